"""The real engines under the product's own units on the Ubuntu 24.04 test host (tests/harness/engines.py):
vLLM 0.32.0 installed by the vllm step from its real wheels (its CPU build serving, through a test-only
drop-in: there is no GPU here), the model fetched by the models step and loaded offline; the real Ollama
0.32.15 downloaded, checked and unpacked by the ollama step, its model pulled from a registry that speaks
Ollama's protocol. Then `aimachine verify` and `aimachine bench` against them, and what the services try
to reach.

Not proven here: anything on a GPU (CUDA kernels, the driver, memory use on the card), and Ollama's
inference (its llama.cpp runner is fetched from GitHub by its build, which these machines cannot reach).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from aimachine.rehearsal.guest import NspawnHost
from tests.conftest import run_aimachine
from tests.harness import engines
from tests.harness.fixtures import booted_test_host
from tests.harness.noble_host import configure, on_host

# the first test also boots the host and runs the first configure (the wheels install, vLLM compiles)
pytestmark = [pytest.mark.nspawn, pytest.mark.timeout(2400)]
STEPS = "update,base,security,models,vllm,ollama"
SERVICE_CHECKS = ("ssh", "vllm-venv", "vllm-unit", "vllm-health", "vllm-model", "ollama-path",
                  "ollama-version", "ollama-active", "ollama-list", "services-not-root", "listeners")
GPU_CHECKS = ("gpu-name", "gpu-memory", "driver-version", "driver-open", "nvcc", "vllm-gpu", "ollama-gpu")
UIDS = ("vllm", "ollama")
# a restart returns once vLLM serves again (the unit's health wait): about a minute here, far more on a
# machine busy with other work; the unit's own TimeoutStartSec is the bound that matters
RESTART_S = 1800


@pytest.fixture(scope="module")
def engines_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NspawnHost, Path]]:
    release, house = engines.require_engines()
    mirror = engines.build_engine_mirror(tmp_path_factory.mktemp("engine-mirror"), release, house)
    work = tmp_path_factory.mktemp("engines")
    with booted_test_host(work, mirror, "the engines test host", net=engines.ENGINES_NET,
                          binds={str(house): engines.WHEELS_IN_GUEST}) as host:
        engines.serve_registry(host)
        engines.install_cpu_build(host)
        catalog = engines.write_catalog(work / "catalog.yml", host)
        first = configure(catalog, host, STEPS)
        assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-3000:]
        yield host, catalog


def env_for(host: NspawnHost, tmp_path: Path) -> dict[str, str]:
    """verify and bench reach the host as an admin would: the catalog's key and address, their own
    known_hosts in the state directory."""
    return {"AIMACHINE_STATE_DIR": str(tmp_path)}


def chat(host: NspawnHost, content: str, max_tokens: int = 16) -> dict:
    body = json.dumps({"model": engines.MODEL, "max_tokens": max_tokens,
                       "messages": [{"role": "user", "content": content}]})
    out = on_host(host, "curl -fsS -m 120 http://127.0.0.1:8000/v1/chat/completions "
                        f"-H 'Content-Type: application/json' -d '{body}'")
    return json.loads(out)


def metrics(host: NspawnHost) -> dict[str, float]:
    """vLLM's own counters (Prometheus text at /metrics), summed over their labels."""
    found: dict[str, float] = {}
    for line in on_host(host, "curl -fsS -m 30 http://127.0.0.1:8000/metrics").splitlines():
        if m := re.match(r"^(vllm:[a-z_]+)(?:\{[^}]*\})? ([0-9.e+-]+)$", line):
            found[m[1]] = found.get(m[1], 0.0) + float(m[2])
    return found


def test_vllm_serves_a_chat_completion_through_the_unit_from_the_models_cache(engines_host):
    host, _ = engines_host
    # the product's install: the real vllm 0.32.0 wheel, its torch for CUDA 13, in the product's venv
    def shown(package: str) -> str:
        return on_host(host, f"/opt/vllm/venv/bin/pip show {package} | sed -n 2p").strip()

    assert shown("vllm") == f"Version: {engines.VLLM_VERSION}"
    assert shown("torch") == "Version: 2.13.0"
    # the unit's own ExecStart and user; the CPU build comes in by the drop-in's PYTHONPATH only
    unit = on_host(host, "systemctl cat vllm.service")
    assert (f"ExecStart=/opt/vllm/venv/bin/vllm serve {engines.MODEL} "
            f"--served-model-name {engines.MODEL}") in unit
    assert "HF_HUB_OFFLINE=1" in on_host(host, "systemctl show -p Environment --value vllm")
    pid = on_host(host, "systemctl show -p MainPID --value vllm").strip()
    assert on_host(host, f"ps -o user= -p {pid}").strip() == "vllm"
    # the model's files are the ones the models step fetched into the unit's HF_HOME
    snapshot = on_host(host, "sudo find /var/lib/vllm/huggingface/hub -path '*snapshots*' "
                             "-name model.safetensors")
    assert "models--Qwen--Qwen2.5-7B-Instruct-AWQ" in snapshot, snapshot
    # with the Hub mirror gone, a restarted vLLM still loads the model: offline, from that cache
    on_host(host, "sudo systemctl stop aimachine-test-mirror-8090 && sudo systemctl restart vllm",
            timeout=RESTART_S)
    answer = chat(host, "Say hello to the homelab.")
    assert answer["model"] == engines.MODEL
    assert answer["choices"][0]["message"]["role"] == "assistant"
    assert answer["usage"]["completion_tokens"] >= 1
    models = json.loads(on_host(host, "curl -fsS http://127.0.0.1:8000/v1/models"))
    assert [m["id"] for m in models["data"]] == [engines.MODEL]


def test_ollama_pulls_from_the_registry_and_serves_under_its_unit(engines_host):
    host, _ = engines_host
    version = on_host(host, "/usr/local/bin/ollama --version").strip()
    assert version == f"ollama version is {engines.OLLAMA_VERSION}"
    listing = on_host(host, "OLLAMA_HOST=127.0.0.1:11434 /usr/local/bin/ollama list")
    assert engines.OLLAMA_MODEL in listing, listing
    pid = on_host(host, "systemctl show -p MainPID --value ollama").strip()
    assert on_host(host, f"ps -o user= -p {pid}").strip() == "ollama"
    journal = on_host(host, "sudo journalctl -u ollama --no-pager -o cat")
    assert "Ollama cloud disabled: true" in journal or "OLLAMA_NO_CLOUD:true" in journal, journal[-3000:]


def test_a_second_run_changes_nothing_with_the_real_engines(engines_host):
    host, catalog = engines_host
    second = configure(catalog, host, STEPS)
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
    assert "configure vm-llm-test: 0 operations changed" in second.stdout, second.stdout[-4000:]


def test_verify_passes_the_service_checks_and_fails_the_gpu_ones_with_remedies(engines_host, tmp_path):
    host, catalog = engines_host
    result = run_aimachine("verify", "vm-llm-test", "--catalog", str(catalog), "--json",
                           "--health-timeout", "60", env=env_for(host, tmp_path), timeout=600)
    report = json.loads(result.stdout)
    by_name = {c["name"]: c for c in report["checks"]}
    failed_services = {n: by_name[n] for n in SERVICE_CHECKS if not by_name[n]["passed"]}
    assert not failed_services, failed_services
    for name in GPU_CHECKS:
        assert not by_name[name]["passed"], by_name[name]
        assert by_name[name]["remedy"], by_name[name]
    assert result.returncode != 0  # no GPU: verify says so


def test_bench_figures_agree_with_vllms_own_counters(engines_host, tmp_path):
    host, catalog = engines_host
    before = metrics(host)
    result = run_aimachine("bench", "vm-llm-test", "--catalog", str(catalog), "--engine", "vllm",
                           "--concurrency", "1", "--runs", "2", "--warmup", "0", "--max-tokens", "48",
                           "--weights-gb", "0.01", "--json", env=env_for(host, tmp_path), timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    after = metrics(host)
    results = json.loads(result.stdout)["engines"][0]["results"]
    assert {r["clock"] for r in results} == {"engine"}  # vLLM's own clock, read from /metrics per round
    requests = sum(r["requests"] for r in results)
    completion = sum(r["requests"] * r["completion_tokens"] for r in results)
    prompt = sum(r["requests"] * r["prompt_tokens"] for r in results)

    def delta(name: str) -> float:
        return after[name] - before.get(name, 0.0)

    assert delta("vllm:request_success_total") == requests
    assert completion == pytest.approx(delta("vllm:generation_tokens_total"), rel=0.10)
    assert prompt == pytest.approx(delta("vllm:prompt_tokens_total"), rel=0.10)
    # decode rate: bench's per-stream tokens/s against vLLM's decode time over the whole run
    decode_s = sum(r["requests"] * (r["completion_tokens"] - 1) / r["decode_tps"] for r in results)
    ours = sum(r["requests"] * (r["completion_tokens"] - 1) for r in results) / decode_s
    decoded = delta("vllm:generation_tokens_total") - requests  # the first token of each is prefill's
    theirs = decoded / delta("vllm:request_decode_time_seconds_sum")
    assert ours == pytest.approx(theirs, rel=0.10)


def test_the_services_reach_nothing_beyond_the_host(engines_host):
    """Every packet the engines' users send off the loopback, and every DNS question they ask, counted by
    the kernel while both restart and answer: none (Ollama's call home is off, vLLM's usage stats too)."""
    host, _ = engines_host
    rules = [f"OUTPUT -m owner --uid-owner {u} ! -o lo" for u in UIDS] + [
        f"OUTPUT -m owner --uid-owner {u} -p udp --dport 53" for u in UIDS]
    for tool in ("iptables", "ip6tables"):
        on_host(host, " && ".join(f"sudo {tool} -I {r}" for r in rules))
    on_host(host, "sudo systemctl restart ollama vllm", timeout=RESTART_S)
    chat(host, "One more, please.")
    on_host(host, "curl -fsS -m 30 http://127.0.0.1:11434/api/tags >/dev/null")
    counts = on_host(host, "sudo iptables -nvxL OUTPUT; sudo ip6tables -nvxL OUTPUT")
    owned = [line.split() for line in counts.splitlines() if "owner UID match" in line]
    assert len(owned) == 8, counts
    assert all(fields[0] == "0" for fields in owned), counts
    assert host.ssh("sudo test -e /var/lib/vllm/.config/vllm/usage_stats.json").returncode != 0
