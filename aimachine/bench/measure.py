"""The arithmetic of one benchmark: from request timestamps and token counts to rates and medians.

Pure functions only, so every number the table and the JSON show can be checked by hand.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    """One streamed request, timed on this machine (perf_counter seconds).

    `engine_decode_s` / `engine_prompt_s` are the engine's own durations where it reports them
    (Ollama's eval_duration and prompt_eval_duration; vLLM's decode and prefill time from its /metrics);
    None means: use the client's clock. `engine_decode_tokens` is how many tokens that decode time
    covers (vLLM's starts at the first token: all but one); None: all of them (Ollama's eval_count).
    """

    sent: float
    first_token: float
    last_token: float
    prompt_tokens: int
    completion_tokens: int
    engine_decode_s: float | None = None
    engine_prompt_s: float | None = None
    engine_decode_tokens: int | None = None

    @property
    def ttft_s(self) -> float:
        return self.first_token - self.sent

    @property
    def decode_tps(self) -> float | None:
        """Tokens per second after the first one: the first token's time belongs to TTFT."""
        if self.engine_decode_s is not None:
            covered = self.engine_decode_tokens
            return _rate(self.completion_tokens if covered is None else covered, self.engine_decode_s)
        return _rate(self.completion_tokens - 1, self.last_token - self.first_token)

    @property
    def prompt_tps(self) -> float | None:
        """Prompt tokens per second; on the client's clock an upper bound on time (includes queueing)."""
        seconds = self.engine_prompt_s if self.engine_prompt_s is not None else self.ttft_s
        return _rate(self.prompt_tokens, seconds)


def _rate(tokens: float, seconds: float) -> float | None:
    return tokens / seconds if tokens > 0 and seconds > 0 else None


def median(values: Iterable[float | None]) -> float | None:
    """Median of the known values; None when there are none."""
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


@dataclass(frozen=True)
class LevelResult:
    """One prompt at one concurrency level: medians over every request of every measured round."""

    prompt: str
    concurrency: int
    requests: int
    ttft_s: float | None
    decode_tps: float | None          # per stream
    total_decode_tps: float | None    # all concurrent streams together (median over rounds)
    prompt_tps: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    clock: str = "client"  # whose durations the rates use: "engine", "client" or "mixed"


def summarize(prompt: str, concurrency: int, rounds: Sequence[Sequence[Sample]]) -> LevelResult:
    """Medians over the measured rounds; each round is `concurrency` requests sent together."""
    samples = [s for r in rounds for s in r]
    totals = [sum(s.decode_tps or 0.0 for s in r) or None for r in rounds]
    prompt_tokens = median(s.prompt_tokens for s in samples)
    completion_tokens = median(s.completion_tokens for s in samples)
    return LevelResult(
        prompt=prompt, concurrency=concurrency, requests=len(samples),
        ttft_s=median(s.ttft_s for s in samples),
        decode_tps=median(s.decode_tps for s in samples),
        total_decode_tps=median(totals),
        prompt_tps=median(s.prompt_tps for s in samples),
        prompt_tokens=None if prompt_tokens is None else round(prompt_tokens),
        completion_tokens=None if completion_tokens is None else round(completion_tokens),
        clock=clock_of(samples),
    )


def clock_of(samples: Sequence[Sample]) -> str:
    """"engine" when the engine timed every sample's decode, "client" when it timed none."""
    timed = {s.engine_decode_s is not None for s in samples}
    return "mixed" if len(timed) > 1 else "engine" if timed == {True} else "client"
