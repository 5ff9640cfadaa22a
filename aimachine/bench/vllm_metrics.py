"""vLLM's own clock for bench: its Prometheus counters (GET /metrics) read before and after a round.

The time vLLM spends on a request is measured inside its engine (vllm/v1/metrics: the prefill and decode
phase histograms, from the engine core's timestamps); the client's clock sees the same tokens after the
API server, the network and an SSH tunnel, which on a busy machine deliver them in bursts. So bench
times vLLM's decode and prefill with vLLM's counters where it can, and says so ("clock": "engine").
Pure functions: the HTTP call is the client's.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass

from aimachine.bench.measure import Sample

# counters and histogram sums of vLLM 0.32.0 (vllm/v1/metrics/loggers.py), summed over their labels
NAMES = {
    "vllm:request_success_total": "requests",
    "vllm:request_prefill_time_seconds_sum": "prefill_s",
    "vllm:request_decode_time_seconds_sum": "decode_s",
}
_LINE = re.compile(r"^(?P<name>vllm:[a-z_]+)(?:\{[^}]*\})? (?P<value>[0-9.eE+-]+|NaN)$")


@dataclass(frozen=True)
class Counters:
    requests: float
    prefill_s: float
    decode_s: float


def parse(text: str) -> Counters | None:
    """The counters bench needs from /metrics text; None when any is missing (not vLLM's, or too old)."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        matched = _LINE.match(line.strip())
        if matched and matched["name"] in NAMES:
            key = NAMES[matched["name"]]
            found[key] = found.get(key, 0.0) + float(matched["value"])
    return Counters(**found) if len(found) == len(NAMES) else None


def engine_timed(samples: Sequence[Sample], before: Counters | None, after: Counters | None) -> list[Sample]:
    """SAMPLES with vLLM's own prefill and decode time, when the counters moved by exactly this round's
    requests (another client's requests would be counted too: then the client's clock stays). The
    requests of a round are the same prompt and length (ignore_eos), so they share the round's time
    equally."""
    if before is None or after is None or after.requests - before.requests != len(samples) or not samples:
        return list(samples)
    share = len(samples)
    decode_s = (after.decode_s - before.decode_s) / share
    prefill_s = (after.prefill_s - before.prefill_s) / share
    if decode_s <= 0 or prefill_s <= 0:
        return list(samples)
    return [dataclasses.replace(s, engine_decode_s=decode_s, engine_prompt_s=prefill_s,
                                engine_decode_tokens=s.completion_tokens - 1) for s in samples]
