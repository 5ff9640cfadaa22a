"""The phases of a deploy: each announced, timed, and closed with ok or FAILED plus its remedy.

A phase is a named callable; it returns a short result line (or None) and raises PhaseError to stop
the run with that phase's exit code. The runner knows nothing of Proxmox or pyinfra.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aimachine.errors import PhaseError

Printer = Callable[[str], None]
Echo = Printer


@dataclass(frozen=True)
class Phase:
    name: str
    run: Callable[[], str | None]
    title: str = ""


@dataclass
class PhaseRecord:
    name: str
    seconds: float
    ok: bool
    detail: str = ""


@dataclass
class RunRecord:
    phases: list[PhaseRecord] = field(default_factory=list)
    failed: PhaseError | None = None

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.phases)


def run_phases(phases: list[Phase], say: Printer, clock: Callable[[], float] = time.monotonic,
               total: int | None = None, first: int = 1) -> RunRecord:
    """Run `phases` in order; stop at the first PhaseError (recorded, not raised: the caller
    reports its message and remedy, on stderr, after whatever summary it prints)."""
    record = RunRecord()
    count = total or len(phases) + first - 1
    for number, phase in enumerate(phases, start=first):
        say(f"[{number}/{count}] {phase.name}" + (f": {phase.title}" if phase.title else "") + " ...")
        start = clock()
        try:
            detail = phase.run() or ""
        except PhaseError as exc:
            seconds = clock() - start
            record.phases.append(PhaseRecord(phase.name, seconds, False, exc.message))
            record.failed = exc
            say(f"[{number}/{count}] {phase.name} FAILED ({seconds:.1f} s)")
            return record
        seconds = clock() - start
        record.phases.append(PhaseRecord(phase.name, seconds, True, detail))
        say(f"[{number}/{count}] {phase.name} ok ({seconds:.1f} s)" + (f": {detail}" if detail else ""))
    return record


def format_duration(seconds: float) -> str:
    """Every duration the tool prints: 3.2 s, 2 min 30 s, 1 h 05 min."""
    minutes, secs = divmod(round(seconds), 60)
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{seconds:.1f} s"


def summary_lines(record: RunRecord) -> list[str]:
    """Phase timings, one line each, and the total. A failed phase's reason is not repeated here: the
    error that ends the run (on stderr, with its remedy) says it once."""
    lines = [f"  {p.name:<11} {'ok' if p.ok else 'FAILED':<6} {format_duration(p.seconds):>12}"
             + (f"  {p.detail}" if p.detail and p.ok else "") for p in record.phases]
    lines.append(f"  {'total':<11} {'':<6} {format_duration(record.seconds):>12}")
    return lines
