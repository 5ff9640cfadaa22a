"""`aimachine bench` end to end against the stand-in server: the scripted TTFT and decode rate come
back within 10 %, the PNG holds both engines and the roofline, and each error is one line."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from tests.conftest import run_aimachine
from tests.unit.bench.conftest import write_bench_catalog
from tests.unit.bench.standin import Script, StandIn

VM = "vm-llm-aimachine"
QUICK = ("--runs", "2", "--warmup", "1", "--max-tokens", "8", "--concurrency", "1,2")


def bench(catalog: Path, *args: str) -> tuple[int, str, str]:
    result = run_aimachine("bench", VM, "--catalog", str(catalog), *args, timeout=120)
    return result.returncode, result.stdout, result.stderr


@pytest.fixture(scope="module")
def report_and_plot(tmp_path_factory):
    """One full run of both engines (about 6 s), shared by the tests that read its outputs."""
    folder = tmp_path_factory.mktemp("bench")
    png = folder / "bench.png"
    with StandIn(Script()) as server:
        code, out, err = bench(write_bench_catalog(folder), "--vllm-url", server.url,
                               "--ollama-url", server.url, "--weights-gb", "5.58", "--json",
                               "--plot", str(png), *QUICK)
    assert code == 0, err
    return json.loads(out), png, err


def test_the_report_holds_what_the_engines_said_and_what_the_clock_can_prove(report_and_plot):
    """Wall-clock rates on a busy machine are whatever the scheduler makes them, so this test asserts what
    it controls: Ollama's own durations come back exactly, each first token comes no sooner than the
    stand-in sent it, and the counts are the script's. The client-clock arithmetic is proven with an
    injected clock (test_the_clients_time_each_token_on_their_clock)."""
    report, _, _ = report_and_plot
    script = Script()
    assert [e["engine"] for e in report["engines"]] == ["vllm", "ollama"]
    for eng in report["engines"]:
        for r in eng["results"]:
            assert r["ttft_s"] >= script.ttft_s, (eng["engine"], r)  # the stand-in waits that long first
            assert r["decode_tps"] > 0 and r["total_decode_tps"] > 0
            assert r["completion_tokens"] == 8
            assert r["requests"] == 2 * r["concurrency"]
        long_prompt = next(r for r in eng["results"] if r["prompt"] == "long")
        short_prompt = next(r for r in eng["results"] if r["prompt"] == "short")
        assert long_prompt["prompt_tokens"] > 10 * short_prompt["prompt_tokens"]
    ollama = report["engines"][1]
    for r in ollama["results"]:  # eval_duration and prompt_eval_duration: the engine's own clock
        assert r["decode_tps"] == pytest.approx(script.decode_tps)
        assert r["total_decode_tps"] == pytest.approx(script.decode_tps * r["concurrency"])
        assert r["prompt_tps"] == pytest.approx(r["prompt_tokens"] / script.ttft_s, rel=0.01)
    assert ollama["nfr6"]["pass"] is True


class FakeClock:
    """Returns the next scripted reading at each call: the client's clock, and nothing else, decides."""

    def __init__(self, readings: list[float]):
        self.readings = list(readings)

    def __call__(self) -> float:
        return self.readings.pop(0)


def test_the_clients_time_each_token_on_their_clock():
    """One reading when the request goes out, one per content chunk: TTFT and the decode rate follow from
    them alone, whatever the machine's load (the stand-in does not wait: ttft and interval 0)."""
    from aimachine.bench.ollama_client import OllamaClient
    from aimachine.bench.vllm_client import VllmClient

    readings = [10.0, 10.25, *(10.25 + 0.02 * i for i in range(1, 8))]  # sent, then 8 tokens 20 ms apart
    with StandIn(Script(ttft_s=0, token_interval_s=0)) as server:
        vllm = VllmClient(server.url, "Qwen/Qwen2.5-7B-Instruct-AWQ", 5, clock=FakeClock(readings))
        sample = vllm.stream("hello", max_tokens=8, seed=0)
        ollama = OllamaClient(server.url, "llama3.1:8b", 5, clock=FakeClock(readings))
        other = ollama.stream("hello", max_tokens=8, seed=0)
    assert (sample.ttft_s, sample.completion_tokens) == (pytest.approx(0.25), 8)
    assert sample.decode_tps == pytest.approx(50.0)  # 7 tokens after the first in 0.14 s
    assert other.ttft_s == pytest.approx(0.25) and other.last_token == pytest.approx(10.39)


def test_json_names_versions_models_weights_and_times(report_and_plot):
    report, _, _ = report_and_plot
    vllm, ollama = report["engines"]
    assert (vllm["version"], vllm["model"]) == ("0.32.0", "Qwen/Qwen2.5-7B-Instruct-AWQ")
    assert (ollama["version"], ollama["model"]) == ("0.13.5", "llama3.1:8b")
    assert vllm["weights"] == {"bytes": 5_580_000_000, "source": "--weights-gb"}
    assert ollama["weights"] == {"bytes": 4_920_753_328, "source": "ollama /api/tags size"}
    assert ollama["roofline_tps"] == pytest.approx(448e9 / 4_920_753_328)
    assert ollama["roofline_fraction"] == pytest.approx(50 / ollama["roofline_tps"], rel=0.10)
    assert ollama["gpu_share"] == 1.0
    assert report["gpu"]["name"] is None and "URLs only" in report["gpu"]["reason"]
    assert report["memory_bandwidth_gbps"] == 448
    assert report["settings"]["temperature"] == 0 and report["settings"]["concurrency"] == [1, 2]
    assert report["started_at"] <= report["finished_at"]


def test_progress_goes_to_stderr_one_line_per_run(report_and_plot):
    _, _, err = report_and_plot
    runs = [line for line in err.splitlines() if ", run " in line]
    # 2 engines x 2 prompts x 2 levels x 2 runs
    assert len(runs) == 16
    assert "bench: vllm short prompt, concurrency 1, run 1/2: TTFT" in err


def test_plot_is_a_png_with_both_engines_and_the_roofline(report_and_plot):
    report, png, _ = report_and_plot
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from aimachine.bench.plot import build_figure

    labels = [line.get_label() for line in build_figure(report).axes[0].get_lines()]
    assert any(lb.startswith("vllm short") for lb in labels)
    assert any(lb.startswith("ollama short") for lb in labels)
    assert any(lb.startswith("vllm roofline") for lb in labels)
    assert any(lb.startswith("ollama roofline") for lb in labels)


def test_table_for_people_shows_rates_roofline_and_verdict(standin, bench_catalog):
    code, out, _ = bench(bench_catalog, "--vllm-url", standin.url, "--engine", "vllm", "--runs", "1",
                         "--warmup", "0", "--max-tokens", "4", "--concurrency", "1")
    assert code == 0
    assert out.splitlines()[0].split() == ["engine", "prompt", "conc", "TTFT", "s", "decode", "tok/s",
                                           "all", "streams", "prompt", "tok/s"]
    assert "roofline: unknown (pointed at a URL only: pass --weights-gb" in out
    assert "NFR-6 (TTFT at concurrency 1 under 1 s): PASS" in out


def _one_line_error(code: int, out: str, err: str) -> str:
    assert code == 8, err
    assert "Traceback" not in err and out == ""
    lines = [line for line in err.splitlines() if not line.startswith("bench: vllm at ")
             and not line.startswith("bench: ollama at ")]
    assert len(lines) == 1, err
    return lines[0]


def test_engine_not_running(bench_catalog):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    line = _one_line_error(*bench(bench_catalog, "--engine", "vllm", "--vllm-url",
                                  f"http://127.0.0.1:{port}"))
    assert "nothing answers at" in line and "connection refused" in line
    assert "systemctl status vllm" in line


def test_ollama_model_not_pulled(standin, bench_catalog):
    line = _one_line_error(*bench(bench_catalog, "--engine", "ollama", "--model", "qwen3:14b",
                                  "--ollama-url", standin.url))
    assert "model 'qwen3:14b' is not pulled" in line and "ollama pull qwen3:14b" in line


def test_vllm_model_not_served(standin, bench_catalog):
    line = _one_line_error(*bench(bench_catalog, "--engine", "vllm", "--model", "other/model",
                                  "--vllm-url", standin.url))
    assert "'other/model' is not served" in line and "Qwen/Qwen2.5-7B-Instruct-AWQ" in line


def test_503_while_loading_is_waited_out(standin, bench_catalog):
    standin.script.not_ready_answers = 2
    code, out, err = bench(bench_catalog, "--engine", "vllm", "--vllm-url", standin.url, "--runs", "1",
                           "--warmup", "0", "--max-tokens", "2", "--concurrency", "1", "--json")
    assert code == 0, err
    assert json.loads(out)["engines"][0]["results"]


def test_503_past_the_deadline_says_so(standin, bench_catalog):
    standin.script.not_ready_answers = 10_000
    line = _one_line_error(*bench(bench_catalog, "--engine", "ollama", "--ollama-url", standin.url,
                                  "--wait", "1"))
    assert "still answers 503" in line and "after 1 s" in line and "--wait" in line


def test_model_for_both_engines_is_refused(bench_catalog):
    line = _one_line_error(*bench(bench_catalog, "--model", "x"))
    assert "--engine vllm or --engine ollama" in line


def test_tunnel_refused(bench_catalog, tmp_path):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    ssh = fake_bin / "ssh"
    ssh.write_text("#!/bin/sh\necho 'ssh: connect to host 127.0.0.1 port 22: Connection refused' >&2\n"
                   "exit 255\n")
    ssh.chmod(0o755)
    state = tmp_path / "state"
    state.mkdir()
    (state / f"{VM}.json").write_text(json.dumps({"address": "127.0.0.1"}))
    result = run_aimachine("bench", VM, "--catalog", str(bench_catalog), "--engine", "vllm",
                           env={"PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}",
                                "AIMACHINE_STATE_DIR": str(state)})
    line = _one_line_error(result.returncode, result.stdout, result.stderr)
    assert "ssh tunnel to ubuntu@127.0.0.1 failed" in line and "Connection refused" in line
    assert "--vllm-url" in line


def test_through_the_vm_tunnels_and_reads_gpu_and_weights_over_ssh(standin, bench_catalog, tmp_path):
    """VM mode: tunnels to the catalog's binds, nvidia-smi and the safetensors sizes over SSH."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "ssh").symlink_to(Path(__file__).with_name("fake_ssh.py"))
    state = tmp_path / "state"
    state.mkdir()
    (state / f"{VM}.json").write_text(json.dumps({"address": "127.0.0.1"}))
    port = standin.url.rsplit(":", 1)[1]
    result = run_aimachine("bench", VM, "--catalog", str(bench_catalog), "--json", "--runs", "1",
                           "--warmup", "0", "--max-tokens", "4", "--concurrency", "1",
                           env={"PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}",
                                "AIMACHINE_STATE_DIR": str(state),
                                "FAKE_SSH_PORTS": f"8000={port},11434={port}"})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["gpu"] == {"name": "NVIDIA GeForce RTX 5060 Ti", "driver": "580.95.05",
                             "source": "nvidia-smi over ssh"}
    vllm = report["engines"][0]
    assert vllm["weights"]["bytes"] == 3_986_963_936 + 1_593_213_728
    assert vllm["weights"]["source"].startswith("safetensors of Qwen/Qwen2.5-7B-Instruct-AWQ in "
                                                "/var/lib/vllm")
    assert all(e["url"].startswith("http://127.0.0.1:") and not e["url"].endswith(port)
               for e in report["engines"])


GATEWAY_KEY = "sk-bench0gateway0" + "9f" * 20


def gateway_bench_catalog(folder: Path, port: int, key: str = GATEWAY_KEY) -> Path:
    """The bench catalog with a gateway on its VM bound where the stand-in listens, and a key file."""
    import yaml

    key_file = folder / "gateway.key"
    key_file.write_text(key + "\n")
    os.chmod(key_file, 0o600)
    path = write_bench_catalog(folder)
    raw = yaml.safe_load(path.read_text())
    raw["gateway"] = {"vm": VM, "bind": f"127.0.0.1:{port}", "master_key_file": str(key_file)}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_via_gateway_sends_the_key_as_a_bearer_token_and_never_prints_it(tmp_path):
    """Both engines' routes through the gateway's URL (vLLM's model and Ollama's llama3.1:8b, as LiteLLM
    names them), every request with the key; no /metrics behind LiteLLM, so the client's clock times all."""
    script = Script(vllm_models=["Qwen/Qwen2.5-7B-Instruct-AWQ", "llama3.1:8b"], gateway_key=GATEWAY_KEY)
    with StandIn(script) as server:
        port = server.server_address[1]
        code, out, err = bench(gateway_bench_catalog(tmp_path, port), "--via-gateway", "--json", *QUICK)
        table_code, table_out, table_err = bench(gateway_bench_catalog(tmp_path, port), "--via-gateway",
                                                 "--engine", "vllm", *QUICK)
    assert code == 0 and table_code == 0, err + table_err
    assert GATEWAY_KEY not in out + err + table_out + table_err
    report = json.loads(out)
    assert [(e["engine"], e["model"], e["via"], e["url"]) for e in report["engines"]] == [
        ("vllm", "Qwen/Qwen2.5-7B-Instruct-AWQ", "gateway", f"http://127.0.0.1:{port}"),
        ("ollama", "llama3.1:8b", "gateway", f"http://127.0.0.1:{port}")]
    assert {e["gateway_version"] for e in report["engines"]} == {"1.110.2"}
    assert {r["clock"] for e in report["engines"] for r in e["results"]} == {"client"}
    assert report["gpu"]["reason"] == "bench went through the gateway: no SSH to run nvidia-smi"
    assert script.authorizations and set(script.authorizations) == {f"Bearer {GATEWAY_KEY}"}
    assert f"through the gateway at http://127.0.0.1:{port} (LiteLLM 1.110.2" in table_out


def test_via_gateway_with_another_key_says_so_and_hides_the_key_the_gateway_quotes(tmp_path):
    with StandIn(Script(gateway_key="sk-the0gateways0own0key0000")) as server:
        code, out, err = bench(gateway_bench_catalog(tmp_path, server.server_address[1]), "--via-gateway",
                               "--engine", "vllm", *QUICK)
    assert code == 8
    assert "refused the key (HTTP 401" in err and "gateway.master_key_file" in err
    assert "(the master key)" in err  # the stand-in's refusal quoted it
    assert GATEWAY_KEY not in out + err


def test_via_gateway_needs_a_gateway_and_no_engine_url(bench_catalog, tmp_path):
    code, _, err = bench(bench_catalog, "--via-gateway")
    assert code == 8 and "the catalog has no gateway" in err
    code, _, err = bench(gateway_bench_catalog(tmp_path, 4000), "--via-gateway", "--vllm-url",
                         "http://127.0.0.1:1")
    assert code == 8 and "leave out --vllm-url" in err
