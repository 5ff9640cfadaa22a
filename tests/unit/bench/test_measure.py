"""The arithmetic: rates from timestamps and counts, medians, the roofline, NFR-6, parsers."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from aimachine.bench.measure import Sample, median, summarize
from aimachine.bench.remote import parse_gpu, safetensors_listing_command
from aimachine.bench.report import judge_nfr6
from aimachine.bench.roofline import fraction, roofline_tps, safetensors_bytes
from aimachine.catalog.schema import load_catalog
from tests.conftest import FIXTURES, ROOT

LLAMA31_8B_Q4_BYTES = 4_920_753_328  # ollama's llama3.1:8b (Q4_K_M) file size


def test_client_clock_rates_leave_the_first_token_to_ttft():
    s = Sample(sent=10.0, first_token=10.25, last_token=11.25, prompt_tokens=500, completion_tokens=101)
    assert s.ttft_s == pytest.approx(0.25)
    assert s.decode_tps == pytest.approx(100.0)  # 100 tokens after the first, in 1 s
    assert s.prompt_tps == pytest.approx(2000.0)


def test_engine_durations_win_over_the_client_clock():
    s = Sample(sent=0, first_token=0.3, last_token=9, prompt_tokens=40, completion_tokens=64,
               engine_decode_s=0.8, engine_prompt_s=0.02)
    assert s.decode_tps == pytest.approx(80.0)
    assert s.prompt_tps == pytest.approx(2000.0)


def test_no_rate_from_nothing():
    s = Sample(sent=0, first_token=0.1, last_token=0.1, prompt_tokens=0, completion_tokens=1)
    assert s.decode_tps is None and s.prompt_tps is None
    assert median([None, None]) is None


def test_summary_takes_medians_and_sums_streams_per_round():
    def sample(ttft: float, decode_s: float) -> Sample:
        return Sample(sent=0, first_token=ttft, last_token=ttft + decode_s, prompt_tokens=10,
                      completion_tokens=11)

    rounds = [[sample(0.1, 1.0), sample(0.2, 0.5)], [sample(0.3, 1.0), sample(0.9, 1.0)]]
    level = summarize("short", 2, rounds)
    assert level.requests == 4
    assert level.ttft_s == pytest.approx(0.25)            # median of 0.1 0.2 0.3 0.9
    assert level.decode_tps == pytest.approx(10.0)        # median of 10 20 10 10
    assert level.total_decode_tps == pytest.approx(25.0)  # rounds: 30 and 20
    assert level.completion_tokens == 11


def test_roofline_from_the_catalog_bandwidth_and_a_model_size():
    bandwidth = load_catalog(ROOT / "catalog.yml").vm("vm-llm-aimachine").gpu.memory_bandwidth_gbps
    assert bandwidth == 448
    roof = roofline_tps(bandwidth, LLAMA31_8B_Q4_BYTES)
    assert roof == pytest.approx(91.04, abs=0.01)
    assert fraction(72.8, roof) == pytest.approx(0.80, abs=0.001)
    assert roofline_tps(bandwidth, None) is None and fraction(50, None) is None


def test_safetensors_of_the_snapshot_refs_main_names():
    listing = (FIXTURES / "hf-cache.safetensors-listing.txt").read_text()
    total, snapshot = safetensors_bytes(listing)
    assert total == 3_986_963_936 + 1_593_213_728 and snapshot.startswith("0d5e0d3f")
    without_ref = "\n".join(line for line in listing.splitlines() if not line.startswith("ref"))
    assert safetensors_bytes(without_ref) is None  # two snapshots, no ref: refuse to guess
    assert safetensors_bytes("123 model.safetensors\n") == (123, ".")
    assert safetensors_bytes("") is None


def test_safetensors_listing_reads_the_hf_cache_the_unit_uses(tmp_path):
    """HF_HOME is cache_dir/huggingface (aimachine/templates/vllm.service.j2): list a cache laid out so."""
    repo = tmp_path / "huggingface/hub/models--Qwen--Qwen2.5-7B-Instruct-AWQ"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs/main").write_text("abc123")
    (repo / "snapshots/abc123").mkdir(parents=True)
    (repo / "snapshots/abc123/model-00001-of-00001.safetensors").write_bytes(b"x" * 1000)
    (repo / "snapshots/abc123/config.json").write_text("{}")
    cmd = safetensors_listing_command(str(tmp_path), "Qwen/Qwen2.5-7B-Instruct-AWQ")
    sudo, flag, shell, dash_c, script = shlex.split(cmd)
    assert (sudo, flag, shell, dash_c) == ("sudo", "-n", "sh", "-c")  # the cache belongs to the vllm user
    listing = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    assert safetensors_bytes(listing) == (1000, "abc123")


def test_gpu_name_and_driver_from_nvidia_smi():
    text = (FIXTURES / "nvidia-smi.query-name-driver.noheader.csv").read_text()
    assert parse_gpu(text) == ("NVIDIA GeForce RTX 5060 Ti", "580.95.05")
    assert parse_gpu("NVIDIA-SMI has failed because it couldn't communicate with the driver") is None


def test_nfr6_is_judged_on_the_worst_prompt_at_concurrency_1():
    def level(prompt: str, c: int, ttft: float | None):
        return summarize(prompt, c, [[Sample(0, ttft, ttft + 1, 1, 2)]] if ttft is not None else [])

    ok = judge_nfr6([level("short", 1, 0.2), level("long", 1, 0.9), level("short", 8, 3.0)])
    assert ok["pass"] is True and ok["worst_ttft_s"] == pytest.approx(0.9)
    slow = judge_nfr6([level("short", 1, 0.2), level("long", 1, 1.2)])
    assert slow["pass"] is False
    assert judge_nfr6([])["pass"] is False
