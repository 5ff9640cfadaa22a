"""The phase runner: announces, times, stops at the first failure with its remedy."""

from __future__ import annotations

import itertools

from aimachine.errors import PhaseError
from aimachine.phases import Phase, format_duration, run_phases, summary_lines


def fake_clock(step: float = 1.5):
    ticks = itertools.count(0, step)
    return lambda: next(ticks)


def test_phases_are_announced_timed_and_closed():
    lines: list[str] = []
    ran: list[str] = []
    phases = [Phase("catalog", lambda: ran.append("c") or "1 VM"),
              Phase("preflight", lambda: ran.append("p"))]
    record = run_phases(phases, lines.append, clock=fake_clock(), total=7)
    assert ran == ["c", "p"]
    assert lines == ["[1/7] catalog ...", "[1/7] catalog ok (1.5 s): 1 VM",
                     "[2/7] preflight ...", "[2/7] preflight ok (1.5 s)"]
    assert record.failed is None and record.seconds == 3.0


def test_first_failure_stops_the_run_with_its_remedy():
    lines: list[str] = []

    def boom():
        raise PhaseError("preflight", "GPU held by running VM 120 \"gaming\"", "stop VM 120")

    later: list[str] = []
    record = run_phases([Phase("preflight", boom), Phase("provision", lambda: later.append("x"))],
                        lines.append, clock=fake_clock(), first=2, total=7)
    assert later == []
    assert record.failed.exit_code == 3
    assert lines[-1] == "[2/7] preflight FAILED (1.5 s)"
    assert record.failed.remedy == "stop VM 120"


def test_summary_has_each_phase_and_the_total():
    record = run_phases([Phase("catalog", lambda: None)], lambda _: None, clock=fake_clock(75))
    text = "\n".join(summary_lines(record))
    assert "catalog" in text and "1 min 15 s" in text and "total" in text
    assert format_duration(3.25) == "3.2 s"
    assert [format_duration(s) for s in (0, 59.4, 60, 150, 3599, 3600, 3900)] == [
        "0.0 s", "59.4 s", "1 min 00 s", "2 min 30 s", "59 min 59 s", "1 h 00 min", "1 h 05 min"]
