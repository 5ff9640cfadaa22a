"""Reading docs/ACCEPTANCE.md and docs/DECISIONS.md, and judging their references: pure functions."""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass

STATUSES = ("proven in CI", "stand-in:", "lab only", "not met")
TEST_REF = re.compile(r"`(tests/[\w/]+\.py::\w+)`")
CHECK_REF = re.compile(r"`verify:([a-z0-9-]+)`")
COMMAND_REF = re.compile(r"`(?:AIMACHINE_LAB=1 )?aimachine ([a-z][a-z-]*)")
MAKE_REF = re.compile(r"`(?:AIMACHINE_LAB=1 )?make ([a-z][a-z0-9-]*)")
SETTING_REF = re.compile(r"`(vms\[\]\.[a-z_.]+|proxmox\.[a-z_.]+)`")


@dataclass(frozen=True)
class Row:
    id: str
    cells: list[str]
    line: int

    @property
    def status(self) -> str:
        return self.cells[-1]

    @property
    def text(self) -> str:
        return " | ".join(self.cells)


def table_rows(doc: str, id_pattern: str) -> list[Row]:
    """Rows of the markdown tables whose first cell is an id (e.g. AC-12, S-3, OQ-9)."""
    rows = []
    for number, line in enumerate(doc.splitlines(), 1):
        if not line.startswith("| "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if re.fullmatch(id_pattern, cells[0]):
            rows.append(Row(cells[0], cells[1:], number))
    return rows


def spec_ids(requirements: str) -> set[str]:
    """Every id of REQUIREMENTS.md: FR-n.m items, scenarios S-1..S-9, AC-n, NFR-n, TC-n."""
    functional = requirements.split("## Functional", 1)[1].split("## Scenarios", 1)[0]
    ids = {f"FR-{a}.{b}" for a, b in re.findall(r"\((\d+)\.(\d+)[,)]", functional)}
    scenarios = requirements.split("## Scenarios", 1)[1].split("##", 1)[0]
    ids |= {f"S-{n}" for n in re.findall(r"(?:^|; |\n)(\d) [a-zA-Z]", scenarios)}
    ids |= set(re.findall(r"\b((?:AC|NFR|TC)-\d+)\b", requirements))
    return ids


def acceptance_problems(doc: str, spec: set[str], tests: set[str], checks: set[str], commands: set[str],
                        targets: set[str]) -> list[str]:
    """Everything stale or missing in docs/ACCEPTANCE.md, one line each (empty: all good)."""
    rows = table_rows(doc, r"(FR-\d+(\.\d+)?|FR-S|S-\d|AC-\d+|NFR-\d+|TC-\d+)")
    problems = [f"{i}: no row" for i in sorted(spec - {r.id for r in rows})]
    for row in rows:
        where = f"line {row.line} ({row.id})"
        if not row.status.startswith(STATUSES):
            problems.append(f"{where}: status {row.status!r} is none of {', '.join(STATUSES)}")
        cited = TEST_REF.findall(row.text)
        problems += [f"{where}: no test {t}" for t in cited if t not in tests]
        problems += [f"{where}: no verify check {c}" for c in CHECK_REF.findall(row.text) if c not in checks]
        problems += [f"{where}: no command aimachine {c}" for c in COMMAND_REF.findall(row.text)
                     if c not in commands]
        problems += [f"{where}: no make target {t}" for t in MAKE_REF.findall(row.text) if t not in targets]
        if row.status.startswith("proven in CI") and not cited:
            problems.append(f"{where}: says proven in CI but names no test")
    return problems


def setting_exists(root: type, path: str) -> bool:
    """Whether `vms[].a.b` (or `proxmox.a`) names a field of the catalog schema."""
    cls: typing.Any = root
    for part in path.replace("vms[]", "vms_item").split("."):
        if part == "vms_item":
            from aimachine.catalog.schema import Vm

            cls = Vm
            continue
        if part == "*":
            return True
        if not dataclasses.is_dataclass(cls):
            return False
        hints = typing.get_type_hints(cls)
        if part not in hints:
            return False
        cls = hints[part]
    return True


def decisions_problems(doc: str, root: type, targets: set[str]) -> list[str]:
    """Each OQ-1..10 has a default, a setting and a reason; every setting and make target exists."""
    rows = {r.id: r for r in table_rows(doc, r"OQ-\d+")}
    problems = [f"OQ-{n}: no row" for n in range(1, 11) if f"OQ-{n}" not in rows]
    for row in rows.values():
        if len(row.cells) != 4 or not all(row.cells):
            problems.append(f"{row.id}: needs the question, a default, a setting and a reason")
            continue
        problems += [f"{row.id}: no catalog setting {s}" for s in SETTING_REF.findall(row.text)
                     if not setting_exists(root, s)]
        problems += [f"{row.id}: no make target {t}" for t in MAKE_REF.findall(row.text) if t not in targets]
    return problems
