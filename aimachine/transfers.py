"""Downloads as the admin reads them: the model fetcher's status file (aimachine/onvm/fetch_models.py),
judged and worded. Pure: the configuration reads the file over SSH and hands its text here."""

from __future__ import annotations

import json
from dataclasses import dataclass

from aimachine.phases import format_duration

FETCHED = "fetched "  # how done_text begins: the launcher keeps these lines for the summaries


@dataclass(frozen=True)
class FetchStatus:
    plan: str  # which plan the file is about (a hash of the plan's text)
    state: str  # running, done or failed
    done: int  # bytes in place (fetched now or before)
    total: int
    fetched: int  # bytes this run moved over the network
    resumed: int  # bytes of part files an earlier run left
    rate: float  # bytes/s over the last half minute
    started: float
    updated: float
    finished: float | None
    current: str
    error: str

    @property
    def seconds(self) -> float:
        return max(0.0, (self.finished or self.updated) - self.started)


def parse_status(text: str) -> FetchStatus | None:
    """The status file's JSON; None when it is missing or not (yet) whole."""
    try:
        data = json.loads(text)
        return FetchStatus(data["plan"], data["state"], int(data["bytes"]), int(data["total"]),
                           int(data["fetched"]), int(data["resumed"]), float(data["rate"]),
                           float(data["started"]), float(data["updated"]), data.get("finished"),
                           data.get("current", ""), data.get("error", ""))
    except (ValueError, KeyError, TypeError):
        return None


def format_bytes(count: float) -> str:
    """1000-based, as link speeds and the Hub's file sizes are given: 5.5 GB, 812 MB, 4.0 kB."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(count) < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" or abs(count) >= 100 else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def format_rate(per_second: float) -> str:
    return f"{format_bytes(per_second)}/s"


def progress_text(what: str, status: FetchStatus) -> str:
    """`Qwen/...: 1.2 GB of 5.5 GB (22%), 11.0 MB/s, about 6 min 30 s left`."""
    if not status.total:
        return f"{what}: asking the Hub for the file list"
    share = 100 * status.done / status.total
    text = f"{what}: {format_bytes(status.done)} of {format_bytes(status.total)} ({share:.0f}%)"
    if status.rate > 0:
        left = (status.total - status.done) / status.rate
        text += f", {format_rate(status.rate)}, about {format_duration(left)} left"
    return text


def done_text(what: str, status: FetchStatus) -> str:
    """`fetched Qwen/...: 5.5 GB in 8 min 12 s (11.2 MB/s)`, and what an earlier run had left."""
    rate = status.fetched / status.seconds if status.seconds else 0.0
    text = (f"{FETCHED}{what}: {format_bytes(status.fetched)} in {format_duration(status.seconds)} "
            f"({format_rate(rate)})")
    earlier = status.done - status.fetched
    if earlier > 0:
        text += f"; {format_bytes(earlier)} were already there from an earlier run"
    return text
