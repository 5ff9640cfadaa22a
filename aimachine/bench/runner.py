"""Runs the plan against one engine: warm-up, then rounds of `c` requests sent together."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from aimachine.bench import vllm_metrics
from aimachine.bench.measure import LevelResult, Sample, summarize
from aimachine.bench.prompts import PROMPTS, tagged


class StreamingClient(Protocol):
    def stream(self, prompt: str, max_tokens: int, seed: int) -> Sample: ...


def measured_round(client: StreamingClient, prompts: Sequence[str], plan: Plan) -> list[Sample]:
    """One round, timed by the engine where it tells its own durations per request (vLLM's /metrics,
    read around the round: vllm_metrics.py); otherwise as the client saw it."""
    counters = getattr(client, "counters", None)
    if counters is None:
        return fire(client, prompts, plan)
    before = counters()
    samples = fire(client, prompts, plan)
    return vllm_metrics.engine_timed(samples, before, counters())


@dataclass(frozen=True)
class Plan:
    max_tokens: int = 128
    runs: int = 3
    warmup: int = 1
    seed: int = 1234
    levels: tuple[int, ...] = (1, 2, 4, 8)
    prompts: dict[str, str] = field(default_factory=lambda: dict(PROMPTS))


def fire(client: StreamingClient, prompts: Sequence[str], plan: Plan) -> list[Sample]:
    """Send all prompts at once (a barrier releases the threads together); results in order."""
    barrier = threading.Barrier(len(prompts))

    def one(text: str) -> Sample:
        barrier.wait()
        return client.stream(text, plan.max_tokens, plan.seed)

    with ThreadPoolExecutor(max_workers=len(prompts)) as pool:
        return list(pool.map(one, prompts))


def bench_engine(engine: str, client: StreamingClient, plan: Plan,
                 progress: Callable[[str], None]) -> list[LevelResult]:
    results: list[LevelResult] = []
    run_id = 0
    for name, text in plan.prompts.items():
        for _ in range(plan.warmup):  # loads the model and fills caches; never measured
            run_id += 1
            fire(client, [tagged(text, run_id)], plan)
        for level in plan.levels:
            rounds = []
            for r in range(plan.runs):
                ids = range(run_id + 1, run_id + level + 1)
                run_id += level
                samples = measured_round(client, [tagged(text, i) for i in ids], plan)
                rounds.append(samples)
                done = summarize(name, level, [samples])
                progress(_progress_line(engine, name, level, r + 1, plan.runs, done))
            results.append(summarize(name, level, rounds))
    return results


def _progress_line(engine: str, prompt: str, level: int, run: int, runs: int, done: LevelResult) -> str:
    ttft = "?" if done.ttft_s is None else f"{done.ttft_s:.3f} s"
    decode = "?" if done.decode_tps is None else f"{done.decode_tps:.1f} tok/s per stream"
    return (f"bench: {engine} {prompt} prompt, concurrency {level}, run {run}/{runs}: "
            f"TTFT {ttft}, decode {decode}")
