"""Run named phases in order: `[n/N] name ...`, then `ok (12.3 s)` or `FAILED (...)`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from deploy.errors import PhaseError

Echo = Callable[[str], None]


def run_phases(phases: Sequence[tuple[str, Callable[[], None]]], echo: Echo, total: int | None = None,
               first: int = 1) -> None:
    """Each phase raises PhaseError to stop the run; that error propagates after `FAILED`."""
    total = total or len(phases) + first - 1
    for n, (name, func) in enumerate(phases, start=first):
        echo(f"[{n}/{total}] {name} ...")
        start = time.monotonic()
        try:
            func()
        except PhaseError as err:
            echo(f"[{n}/{total}] {name} FAILED ({time.monotonic() - start:.1f} s)")
            raise err from None
        echo(f"[{n}/{total}] {name} ok ({time.monotonic() - start:.1f} s)")
