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

import copy
import json
import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

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


# --- the gateway: the real LiteLLM in front of the real vLLM and a second instance of it -------------
SECOND = "10.213.50.2"  # a second VM's address: a second vLLM on another address of the test host
GATEWAY_KEY = "sk-aimachine-engines-test-5c2f81d94b7a"  # the test's own; it must show up nowhere
SECOND_UNIT = "vllm-second"


def gateway_catalog(work: Path, host: NspawnHost) -> Path:
    """The engines catalog plus a second VM serving the same model and a gateway on the first."""
    path = engines.write_catalog(work / "gateway.yml", host)
    data = yaml.safe_load(path.read_text())
    first = data["vms"][0]
    second = copy.deepcopy(first)
    second.update(name="vm-llm-test2", vmid=141, ipv4=f"{SECOND}/30", gateway="10.213.50.1")
    second["gpu"].update(pci_address="0000:02:00", mapping="rtx5060ti-2")
    second["services"]["ollama"] = {"enabled": False}
    key = work / "gateway.key"
    key.write_text(GATEWAY_KEY + "\n")
    key.chmod(0o600)
    data["vms"].append(second)
    data["gateway"] = {"vm": first["name"], "master_key_file": str(key),
                       "index_url": f"file://{engines.MIRROR_IN_GUEST}/simple"}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def start_second_vllm(host: NspawnHost) -> None:
    """The second VM's vLLM: the same venv, model cache and CPU settings, bound to SECOND:8000."""
    env = on_host(host, "systemctl show -p Environment --value vllm").split()
    props = " ".join(f"-p Environment={shlex.quote(e)}" for e in env)
    on_host(host, f"sudo ip addr add {SECOND}/32 dev host0 && sudo systemd-run --unit {SECOND_UNIT} "
                  f"--uid vllm --gid vllm {props} /opt/vllm/venv/bin/vllm serve {engines.MODEL} "
                  f"--served-model-name {engines.MODEL} --host {SECOND} --port 8000 "
                  "--gpu-memory-utilization 0.5 --max-model-len 8192 >/dev/null && "
                  f"for i in $(seq 900); do curl -fs -o /dev/null http://{SECOND}:8000/health && exit 0; "
                  "sleep 2; done; exit 1", timeout=RESTART_S)


@pytest.fixture(scope="module")
def gateway(engines_host, tmp_path_factory):
    host, _ = engines_host
    work = tmp_path_factory.mktemp("gateway")
    catalog = gateway_catalog(work, host)
    start_second_vllm(host)
    first = configure(catalog, host, "security,gateway")
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-3000:]
    yield host, catalog, first


def ask(prompt: str, key: str | None = GATEWAY_KEY) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.post(f"http://{engines.ENGINES_NET.target_ip}:4000/v1/chat/completions", headers=headers,
                         json={"model": engines.MODEL, "max_tokens": 4,
                               "messages": [{"role": "user", "content": prompt}]}, timeout=120)


def served(host: NspawnHost, address: str) -> float:
    text = on_host(host, f"curl -fsS -m 30 http://{address}:8000/metrics")
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("vllm:request_success_total"))


def test_the_gateway_wants_its_key_and_answers_with_it(gateway):
    assert ask("hello", key=None).status_code == 401
    assert ask("hello", key="sk-not-the-key-000000000").status_code in (400, 401)
    answer = ask("hello")
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["role"] == "assistant"


def test_the_gateway_spreads_one_model_over_both_vms(gateway):
    host, _, _ = gateway
    before = {a: served(host, a) for a in ("127.0.0.1", SECOND)}
    for i in range(24):  # simple-shuffle: one backend gets none of 24 with p = 2 * 0.5**24
        assert ask(f"request {i}").status_code == 200
    after = {a: served(host, a) for a in ("127.0.0.1", SECOND)}
    got = {a: after[a] - before[a] for a in after}
    assert sum(got.values()) == 24 and all(n > 0 for n in got.values()), got


def test_the_gateway_goes_on_when_one_vm_stops(gateway):
    host, _, _ = gateway
    on_host(host, f"sudo systemctl stop {SECOND_UNIT}")
    answers = [ask(f"after the stop {i}") for i in range(6)]
    assert [a.status_code for a in answers] == [200] * 6, [a.text[:300] for a in answers]


def test_verify_and_bench_reach_the_gateway_without_showing_its_key(gateway, tmp_path):
    host, catalog, _ = gateway
    env = env_for(host, tmp_path)
    checked = run_aimachine("verify", "vm-llm-test", "--catalog", str(catalog), "--json",
                            "--health-timeout", "60", env=env, timeout=600)
    checks = {c["name"]: c for c in json.loads(checked.stdout)["checks"]}
    gateway_checks = {n: checks[n] for n in ("gateway-unit", "gateway-health", "gateway-models")}
    assert all(c["passed"] for c in gateway_checks.values()), gateway_checks
    bench = run_aimachine("bench", "vm-llm-test", "--catalog", str(catalog), "--via-gateway",
                          "--engine", "vllm", "--concurrency", "1", "--runs", "1", "--warmup", "0",
                          "--max-tokens", "8", "--json", env=env, timeout=600)
    assert bench.returncode == 0, bench.stdout[-3000:] + bench.stderr[-3000:]
    (measured,) = json.loads(bench.stdout)["engines"]
    assert f"{engines.ENGINES_NET.target_ip}:4000" in measured["url"]
    assert GATEWAY_KEY not in checked.stdout + checked.stderr + bench.stdout + bench.stderr


def test_the_key_shows_up_nowhere_and_a_rerun_changes_nothing(gateway, tmp_path):
    host, catalog, first = gateway
    second = configure(catalog, host, "security,gateway")
    assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
    assert "configure vm-llm-test: 0 operations changed" in second.stdout, second.stdout[-4000:]
    where = {"configure output": first.stdout + first.stderr + second.stdout + second.stderr,
             "gateway journal": on_host(host, "sudo journalctl -u aimachine-gateway --no-pager -o cat"),
             "LiteLLM config": on_host(host, "sudo cat /etc/litellm/config.yaml"),
             "processes": on_host(host, "ps -eo args"),
             "unit": on_host(host, "systemctl cat aimachine-gateway; systemctl show aimachine-gateway")}
    state = Path(os.environ.get("AIMACHINE_STATE_DIR") or Path.home() / ".local/state/aimachine")
    if state.is_dir():
        where["state"] = "".join(p.read_text(errors="replace") for p in state.rglob("*") if p.is_file())
    assert not [name for name, text in where.items() if GATEWAY_KEY in text]
    # the one place it is: the unit's EnvironmentFile, root's alone
    assert on_host(host, "sudo stat -c '%U %a' /etc/litellm/master-key.env").strip() == "root 600"
