"""`services.vllm.extra_args` against the flags the pinned vLLM's `vllm serve` accepts (pure).

The flag lists live in aimachine/catalog/vllm-flags/VERSION.json, extracted from that release's own parser
by tools/vllm_flags.py (its `vllm serve --help=all` names the same flags); a new pin needs its list.
Each flag is a `switch` (no value), takes one `value`, or `values` (one or more), or an `optional` one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

# What the catalog itself puts on vLLM's command line (aimachine/templates/vllm.service.j2): an extra flag
# naming one of these would contradict the catalog field that sets it.
CATALOG_SET = {
    "--host": "services.vllm.bind",
    "--port": "services.vllm.bind",
    "--gpu-memory-utilization": "services.vllm.gpu_memory_utilization",
    "--max-model-len": "services.vllm.max_model_len",
    "--served-model-name": "services.vllm.model",
    "--model": "services.vllm.model",
}
# Flags of the parser that are no serving setting: they would make the unit print and exit.
NOT_SERVING = {"--help", "--version"}
REFRESH = "tools/vllm_flags.py"


@dataclass(frozen=True)
class Problem:
    index: int  # which item of extra_args
    found: str
    allowed: str
    hint: str = ""


@cache
def known_flags(version: str) -> dict[str, str] | None:
    """flag -> kind for VERSION's `vllm serve`, or None when no list ships for that version."""
    entry = resources.files("aimachine").joinpath("catalog", "vllm-flags", f"{version}.json")
    if not entry.is_file():
        return None
    return json.loads(entry.read_text(encoding="utf-8"))["flags"]


def flag_versions() -> list[str]:
    folder = resources.files("aimachine").joinpath("catalog", "vllm-flags")
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))


def _is_flag(token: str) -> bool:
    return token.startswith("-") and len(token) > 1 and not token[1:2].isdigit()


def problems(args: list[str], version: str, flags: dict[str, str] | None) -> list[Problem]:
    """Every problem of ARGS (the catalog's list, one token each) for vLLM VERSION, with its item."""
    if not args:
        return []
    if flags is None:
        return [Problem(0, f"extra flags for vLLM {version}",
                        f"extra_args for a vLLM with a flag list ({', '.join(flag_versions())})",
                        f"no flag list ships for {version}: run {REFRESH} {version}, or remove extra_args")]
    out: list[Problem] = []
    seen: dict[str, int] = {}
    i = 0
    while i < len(args):
        token = args[i]
        if not _is_flag(token):
            out.append(Problem(i, repr(token), "a flag starting with --, each value after its flag",
                               "a value must follow the flag it belongs to"))
            i += 1
            continue
        name, eq, inline = token.partition("=")
        values = [inline] if eq else []
        j = i + 1
        while j < len(args) and not _is_flag(args[j]):
            values.append(args[j])
            j += 1
        kind = flags.get(name)
        if kind is None or name in NOT_SERVING:
            out.append(Problem(i, f"the flag {name!r}", f"a flag of `vllm serve` {version}",
                               _unknown_hint(name, flags, version)))
        elif name in CATALOG_SET:
            out.append(Problem(i, f"the flag {name!r}", "a flag the catalog does not set already",
                               f"{CATALOG_SET[name]} sets it: change that field instead"))
        elif base(name) in seen:
            out.append(Problem(i, f"the flag {name!r} again", "each flag once",
                               f"item {seen[base(name)]} already sets it"))
        elif kind == "switch" and values:
            out.append(Problem(i, f"{name} {' '.join(values)}", f"{name} alone (it takes no value)"))
        elif kind in ("value", "values") and not values:
            out.append(Problem(i, f"{name} without a value", f"{name} followed by its value",
                               "put the value in the next item, or write it as FLAG=VALUE"))
        elif kind in ("value", "optional") and len(values) > 1:
            out.append(Problem(i, f"{name} {' '.join(values)}", f"{name} with one value"))
        seen.setdefault(base(name), i)
        i = j
    return out


def base(flag: str) -> str:
    """A BooleanOptionalAction's two spellings are one setting: `--no-enforce-eager` is `--enforce-eager`."""
    return "--" + flag[5:] if flag.startswith("--no-") else flag


def _unknown_hint(name: str, flags: dict[str, str], version: str) -> str:
    import difflib

    near = difflib.get_close_matches(name, [f for f in flags if f not in NOT_SERVING], n=1, cutoff=0.75)
    return f"did you mean {near[0]!r}?" if near else f"`vllm serve --help=all` of {version} lists the flags"
