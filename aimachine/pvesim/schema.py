"""The official Proxmox VE API schema for the routes the simulator serves (aimachine/pvesim/api-schema/,
extracted from pve-docs `api-viewer/apidata.js`, PVE 8.4.2 and 9.1.3): route lookup, parameter
verification the way pve-common's JSONSchema does it, and the `permissions.check` entries."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "api-schema"
VERSIONS = ("8.4", "9.1")
# pve-common PVE::JSONSchema's texts for the two ways a parameter fails verification.
NOT_IN_SCHEMA = "property is not defined in schema and the schema does not allow additional properties"
MISSING = "property is missing and it is not optional"


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str  # the schema's template, e.g. /nodes/{node}/qemu/{vmid}/config
    parameters: tuple[dict, ...]
    permissions: dict | None

    def parameter(self, name: str) -> dict | None:
        """The schema entry for `name`; `net[n]` entries match net0, net1, ..."""
        for entry in self.parameters:
            pattern = entry["name"]
            if pattern == name or (pattern.endswith("[n]") and re.fullmatch(
                    re.escape(pattern[:-3]) + r"\d+", name)):
                return entry
        return None


@functools.cache
def routes(version: str) -> dict[tuple[str, str], RouteSpec]:
    data = json.loads((FIXTURES / f"routes-{version}.json").read_text())
    return {(r["method"], r["path"]): RouteSpec(r["method"], r["path"], tuple(r["parameters"]),
                                                r.get("permissions"))
            for r in data["routes"]}


def spec(version: str, method: str, path: str) -> RouteSpec:
    found = routes(version).get((method, path))
    if found is None:
        raise KeyError(f"{method} {path} is not in the PVE {version} schema")
    return found


def _property_string_errors(name: str, value: str, fmt: dict) -> dict[str, str]:
    """A property string (`virtio,bridge=vmbr0`) against its format: unknown keys are refused."""
    errors = {}
    default_key = next((k for k, v in fmt.items() if isinstance(v, dict) and v.get("default_key")), None)
    for part in (p for p in value.split(",") if p):
        key = part.split("=", 1)[0] if "=" in part else default_key
        if key is None or key not in fmt:
            # net0's model=MAC form (virtio=BC:24:...) names an enum value as its key
            if "=" in part and any(isinstance(v, dict) and key in (v.get("enum") or ())
                                   for v in fmt.values()):
                continue
            errors[name] = f"invalid format - format error\n{name}.{key}: {NOT_IN_SCHEMA}"
    return errors


def verify(route: RouteSpec, params: dict[str, Any], url_fields: dict[str, str]) -> dict[str, str]:
    """Parameter errors as PVE reports them ({name: message}); empty when the call is valid."""
    errors: dict[str, str] = {}
    given = {**params, **url_fields}
    for name, value in given.items():
        entry = route.parameter(name)
        if entry is None:
            errors[name] = NOT_IN_SCHEMA
        elif isinstance(entry.get("format"), dict) and isinstance(value, str):
            errors.update(_property_string_errors(name, value, entry["format"]))
        elif entry.get("enum") and str(value) not in entry["enum"]:
            errors[name] = f"value '{value}' does not have a value in the enumeration " \
                           f"'{', '.join(entry['enum'])}'"
    for entry in route.parameters:
        if not entry.get("optional") and not entry["name"].endswith("[n]") and entry["name"] not in given:
            errors[entry["name"]] = MISSING
    return errors


def typed(route: RouteSpec, name: str, value: Any) -> Any:
    """A stored option as PVE returns it: integers and booleans as JSON numbers."""
    entry = route.parameter(name)
    kind = (entry or {}).get("type")
    try:
        if kind == "integer" or kind == "boolean":
            return int(value)
        if kind == "number":
            return float(value)
    except (TypeError, ValueError):
        return value
    return value


def check_of(route: RouteSpec) -> list | None:
    """The route's `permissions.check` expression, or None (`user: all`: the handler filters)."""
    return (route.permissions or {}).get("check")


def failed_check(check: list, values: dict[str, Any], holds: Any) -> str | None:
    """Evaluate a `permissions.check` expression; None when it passes, else PVE's 403 message.
    `holds(path, privs)` says whether the caller holds any one of `privs` on `path`. A failed `perm`
    of all its privileges names the first missing one; a failed `any` or `or` says only "Permission
    check failed", as pve-access-control's check_any and the `or` evaluation do."""
    kind = check[0]
    if kind == "perm":
        path, privs, *opts = check[1:]
        path = re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), m.group(0))), path)
        if "any" in opts[::2]:
            return None if holds(path, tuple(privs)) else "Permission check failed"
        missing = [priv for priv in privs if not holds(path, (priv,))]
        return f"Permission check failed ({path}, {missing[0]})" if missing else None
    if kind == "or":
        passed = any(failed_check(c, values, holds) is None for c in check[1:])
        return None if passed else "Permission check failed"
    if kind == "and":
        return next((msg for c in check[1:] if (msg := failed_check(c, values, holds))), None)
    return None  # userid-param, userid-group: checks of the caller's own identity, which always pass here
