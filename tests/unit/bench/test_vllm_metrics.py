"""bench on vLLM's own clock: its /metrics counters around each round, and the fall back to the client's."""

from __future__ import annotations

from pathlib import Path

import pytest

from aimachine.bench import vllm_metrics
from aimachine.bench.measure import Sample, summarize
from aimachine.bench.runner import Plan, bench_engine

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "vllm-metrics.0.32.0.cpu.txt"


def test_the_real_metrics_of_vllm_0_32_0_give_its_counters():
    counters = vllm_metrics.parse(FIXTURE.read_text())
    assert counters is not None and counters.requests >= 1
    assert counters.decode_s > 0 and counters.prefill_s > 0


def test_text_without_vllms_counters_gives_none():
    assert vllm_metrics.parse("# HELP python_gc_objects_collected_total\npython_info 1.0\n") is None


def _samples(n: int) -> list[Sample]:
    # the client saw the 33 tokens arrive in 10 ms (a burst through a busy tunnel)
    return [Sample(sent=0.0, first_token=0.5, last_token=0.51, prompt_tokens=20, completion_tokens=33)] * n


def test_the_engines_time_is_shared_by_the_rounds_requests():
    before = vllm_metrics.Counters(requests=4, prefill_s=1.0, decode_s=10.0)
    after = vllm_metrics.Counters(requests=6, prefill_s=1.2, decode_s=10.8)
    timed = vllm_metrics.engine_timed(_samples(2), before, after)
    assert [s.decode_tps for s in timed] == [pytest.approx(80.0)] * 2  # 32 tokens after the first in 0.4 s
    assert [s.prompt_tps for s in timed] == [pytest.approx(200.0)] * 2  # 20 prompt tokens in 0.1 s
    assert summarize("short", 2, [timed]).clock == "engine"


@pytest.mark.parametrize("after", [
    vllm_metrics.Counters(requests=7, prefill_s=1.2, decode_s=10.8),  # someone else's request too
    vllm_metrics.Counters(requests=6, prefill_s=1.0, decode_s=10.0),  # the counters did not move
    None,                                                             # /metrics not served
])
def test_the_clients_clock_stays_where_the_counters_do_not_tell_this_round(after):
    before = vllm_metrics.Counters(requests=4, prefill_s=1.0, decode_s=10.0)
    timed = vllm_metrics.engine_timed(_samples(2), before, after)
    assert timed == _samples(2)
    assert summarize("short", 2, [timed]).clock == "client"


class _Engine:
    """A client whose engine decodes 100 tok/s by its own clock while the client sees a burst."""

    def __init__(self) -> None:
        self.now = vllm_metrics.Counters(requests=0, prefill_s=0.0, decode_s=0.0)

    def stream(self, prompt: str, max_tokens: int, seed: int) -> Sample:
        c = self.now
        self.now = vllm_metrics.Counters(c.requests + 1, c.prefill_s + 0.05,
                                         c.decode_s + (max_tokens - 1) / 100)
        return Sample(sent=0.0, first_token=0.2, last_token=0.2001, prompt_tokens=10,
                      completion_tokens=max_tokens)

    def counters(self) -> vllm_metrics.Counters:
        return self.now


def test_bench_reports_the_engines_rate_not_the_burst():
    plan = Plan(max_tokens=17, runs=2, warmup=1, levels=(1,), prompts={"short": "hello there"})
    (level,) = bench_engine("vllm", _Engine(), plan, lambda _line: None)
    assert level.clock == "engine" and level.decode_tps == pytest.approx(100.0)
    assert level.prompt_tps == pytest.approx(200.0)
