"""The simulator's route table. Each route is registered under its official schema path
(`/nodes/{node}/qemu/{vmid}/config`); the server verifies parameters and evaluates the schema's
`permissions.check` before the handler runs. What the schema does not state (VM.Allocate on create,
the per-option checks inside create and config, list filtering) each route adds as `extra` needs."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# ACL path, any one of these privileges[, the 403 message when it is not PVE's usual one]
Need = tuple  # (str, tuple[str, ...]) or (str, tuple[str, ...], str)
Needs = Callable[[dict, dict], list[Need]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # the schema's path template
    pattern: re.Pattern
    handler: Callable[..., Any]
    extra: Needs | None  # hand-written checks beyond the schema's


ROUTES: list[Route] = []


def _compile(template: str) -> re.Pattern:
    """`/nodes/{node}/qemu` -> a regex over the raw (still percent-encoded) URL path."""
    return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$")


def route(method: str, path: str, extra: Needs | None = None) -> Callable:
    def register(func: Callable) -> Callable:
        ROUTES.append(Route(method, path, _compile(path), func, extra))
        return func
    return register


def find(method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
    for entry in ROUTES:
        match = entry.pattern.match(raw_path)
        if match and entry.method == method:
            return entry, match.groupdict()
    return None
