"""Every catalog field's check on the same probes (the values an admin writes, right and wrong, and each
range's edges): what it accepts and turns them into, what it refuses, and the hint it gives. The result
is a golden file (tests/golden/catalog-checks.txt), one section per distinct check, reviewed once."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from aimachine.catalog import checks as chk
from aimachine.catalog import schema

HEX64 = "0123456789abcdef" * 4
PROBES: list[Any] = [
    None, "", "   ", 0, 1, -1, 60, 1.5, 0.32, True, False, [], {}, ["a"], [1], "x", "  padded  ",
    "dhcp", "auto", 580, 524, 525, "580", "5m", "0", "-1", "1h30m", "300s", "5 minutes", "0.32.0",
    "0.13.5-rc1",
    "v1", "50GB", "50 GiB", "51200", "2T", "512k", "127.0.0.1:8000", "[::1]:8000", "0.0.0.0:8000",
    "127.0.0.1:0", "127.0.0.1:65535", "127.0.0.1:65536", "127.0.0.1", "localhost:80", "192.168.0.0/24",
    "192.168.0.5/24", "192.168.0.1", "192.168.0.140/24", "192.168.0.140", "300.1.1.1", "fe80::1",
    "https://192.168.0.19:8006", "https://pve.lan", "https://h:8006/api2/json", "http://h:8006",
    "/var/lib/x", "relative/path", HEX64, HEX64.upper(), HEX64[:63], "0000:01:00", "0000:01:00.1",
    "0000:0A:00.7", "01:00.0", "0000:01:00.8", "10de:2d04", "10DE:2D04", "10de:2d0", "cuda-toolkit-12-8",
    "cuda-toolkit-12-7", "cuda-toolkit-11-9", "cuda-toolkit-13-0", "cuda", "cuda-drivers",
    "vm-llm-aimachine", "vm-", "vm-a", "vm-a-", "VM-x", "vm-" + "a" * 60, "vm-" + "a" * 61, "ubuntu",
    "Root", "_svc", "a" * 33, "local", "9local", "local-zfs", "local:iso/noble.img",
    "local:import/noble.qcow2",
    "local:iso/noble.iso", "local:snippets/x.img", "host", "x86-64-v2-AES", "3.12", "3.9", "api-token",
    "root-password", "Qwen/Qwen2.5-7B-Instruct-AWQ", "file:///srv/simple", "~/.ssh/id_ed25519.pub",
    "~/.ssh/id_ed25519", "ssh-ed25519 AAAAC3Nza... admin@lab", "0a:00.1", "ecdsa-sha2-nistp256 AAAAE2V",
    "sk-ssh-ed25519@openssh.com AAAAGnNr", "0000:0b:00", "https://PVE.LAN:8006", "0.13.5-RC1",
    "127.0.0.1:1", "cuda-drivers-580", "0B:00.0",
    "https://mirror.lan/ollama/v{version}/ollama-linux-amd64.tar.zst", "https://mirror.lan/ollama.tgz",
]


def _edges(allowed: str) -> list[Any]:
    found = re.search(r"from (-?[\d.]+) to (-?[\d.]+)", allowed)
    if not found:
        return []
    low, high = (float(x) if "." in x else int(x) for x in found.groups())
    step = 0.01 if isinstance(low, float) or isinstance(high, float) else 1
    return [low - step, low, high, high + step]


def distinct_checks() -> dict[str, tuple[chk.Check, list[str]]]:
    """One entry per distinct check (by what it allows), with the fields that use it."""
    out: dict[str, tuple[chk.Check, list[str]]] = {}

    def walk(cls: type, prefix: str) -> None:
        for f in dataclasses.fields(cls):
            if f.metadata.get("internal"):
                continue
            if f.metadata.get("section"):
                walk(schema.section_type(cls, f), f"{prefix}{f.name}.")
            elif not (cls is schema.Catalog and f.name == "vms"):
                allowed = schema.allowed(f.metadata["check"])
                out.setdefault(allowed, (f.metadata["check"], []))[1].append(prefix + f.name)
        if cls is schema.Catalog:
            walk(schema.Vm, "vms[].")

    walk(schema.Catalog, "")
    return out


def fresh_checks() -> dict[str, chk.Check]:
    """Checks built now, from the factories the schema uses at import (so a change in a factory shows)."""
    return {
        "text()": chk.text(), "text('a name')": chk.text("a name"),
        "pattern(r'a+', 'some a', 'type a')": chk.pattern(r"a+", "some a", "type a"),
        "choice('x', 'y')": chk.choice("x", "y"), "integer(1, 10)": chk.integer(1, 10),
        "integer(512, 4096, unit='MB')": chk.integer(512, 4096, unit="MB"),
        "integer(8, 64, unit='GB')": chk.integer(8, 64, unit="GB"),
        "number(0.05, 0.98)": chk.number(0.05, 0.98),
        "list_of(text(), 'names')": chk.list_of(chk.text(), "names"),
        "one_of_checks(choice('auto'), integer(1, 9), 'auto or 1-9')":
            chk.one_of_checks(chk.choice("auto"), chk.integer(1, 9), "auto or 1-9"),
    }


def _probe(check: chk.Check, values: list[Any], allowed: str) -> list[str]:
    accepted, refused, hints, other = [], [], {}, {}
    for value in values:
        try:
            accepted.append(f"{value!r} -> {check(value)!r}")
        except chk.Invalid as bad:
            refused.append(repr(value))
            if bad.hint:
                hints.setdefault(bad.hint, []).append(repr(value))
            if bad.allowed != allowed:
                other.setdefault(repr(bad.allowed), []).append(repr(value))
    return ["accepts: " + ("; ".join(accepted) or "none of the probes"), "refuses: " + ", ".join(refused),
            *(f"hint {hint!r} for: {', '.join(v)}" for hint, v in hints.items()),
            *(f"allowed {said} for: {', '.join(v)}" for said, v in other.items())]


def render() -> str:
    lines = []
    for label, check in fresh_checks().items():
        allowed = schema.allowed(check)
        probes = [*PROBES, *_edges(allowed)]
        lines += [f"## built now: {label}: {allowed}", *_probe(check, probes, allowed), ""]
    for allowed, (check, fields) in distinct_checks().items():
        lines += [f"## {allowed}", f"fields: {', '.join(fields)}",
                  *_probe(check, [*PROBES, *_edges(allowed)], allowed), ""]
    lines += ["## how found values read in errors",
              *(f"{v!r}: {chk.describe(v)}" for v in (None, True, 3, 1.5, "x", [], {}, b"b")),
              f"an Invalid reads as what it allows: {str(chk.Invalid('a thing', 'a hint'))!r}", ""]
    return "\n".join(lines)
