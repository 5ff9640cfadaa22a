"""Reading the real outputs in tests/fixtures: a `# SOURCE:` first line names where each came from, and
some files are a transcript (`$ command` lines, each followed by what it printed). And replaying the
verify records built from them (tests/fixtures/verify/)."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from aimachine.catalog.schema import Vm, load_catalog
from tests.conftest import FIXTURES, run_aimachine
from tests.harness.catalog import SHIPPED_VM, build_catalog

SOURCE = "# SOURCE: "
# a prompt line: `$ cmd`, `> cmd`, `# cmd` (root), or a named prompt such as `Ubuntu： ~ $ cmd`
_PROMPT = re.compile(r"^(?:\S+： ~ )?[$>#] (?P<command>.+?)\s*$")


def source(name: str) -> str:
    """Where the fixture NAME comes from (its `# SOURCE:` line)."""
    first = (FIXTURES / name).read_text().splitlines()[0]
    assert first.startswith(SOURCE), f"{name} has no source line"
    return first[len(SOURCE):]


def body(name: str) -> str:
    """The fixture NAME as the command printed it: its source line left out."""
    text = (FIXTURES / name).read_text()
    return text.split("\n", 1)[1] if text.startswith(SOURCE) else text


def transcript(name: str) -> list[tuple[str, str]]:
    """The (command, output) pairs of a transcript fixture, in order."""
    pairs: list[tuple[str, list[str]]] = []
    for line in body(name).splitlines():
        prompt = _PROMPT.match(line)
        if prompt:
            pairs.append((prompt["command"], []))
        elif pairs:
            pairs[-1][1].append(line)
    return [(command, "".join(f"{ln}\n" for ln in lines)) for command, lines in pairs]


def printed(name: str, command: str, nth: int = 0) -> str:
    """What COMMAND printed in the transcript NAME (its NTH run)."""
    outputs = [out for cmd, out in transcript(name) if cmd == command]
    assert len(outputs) > nth, f"{name} has no run {nth} of {command!r}"
    return outputs[nth]


def replay_verify(folder: Path, record: dict[str, Any], *args: str) -> subprocess.CompletedProcess:
    """`aimachine verify --replay` of RECORD, against the shipped catalog with the record's
    `catalog_fields` (the versions its outputs show), so a new pin in catalog.yml leaves it valid."""
    path = folder / "record.json"
    path.write_text(json.dumps(record))
    catalog = build_catalog(folder, record.get("catalog_fields", {}), name="record-catalog.yml")
    return run_aimachine("verify", SHIPPED_VM, "--replay", str(path), "--catalog", str(catalog), *args)


def record_vm(record: dict[str, Any]) -> Vm:
    """The VM of the catalog replay_verify uses for RECORD."""
    with tempfile.TemporaryDirectory() as folder:
        catalog = build_catalog(Path(folder), record.get("catalog_fields", {}))
        return load_catalog(catalog).vm(SHIPPED_VM)
