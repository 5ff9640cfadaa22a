"""The first configuration on the test host with every download over a throttled link: the model from
a local Hub mirror (the Hub's protocol, behind HF_ENDPOINT) and the packages (the vLLM index, the
Ollama release) from the same mirror, each at its own rate. The model downloads in the background of
the installs, so configure takes about as long as the longer of the two, not their sum; a download cut
short is resumed, not fetched again; the run after changes nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from aimachine.configure.launcher import configure
from aimachine.rehearsal import guest as nspawn
from aimachine.rehearsal import noble_base
from aimachine.rehearsal.guest import NspawnHost
from aimachine.rehearsal.payloads import MIRROR_PORT, STANDIN_MODEL, build_mirror, mirror_settings
from tests.conftest import aimachine_bin
from tests.harness.catalog import SHIPPED_VM, build_catalog
from tests.harness.fixtures import OLLAMA_VERSION, PAYLOADS_IN_HOST, VLLM_VERSION

pytestmark = pytest.mark.nspawn
STEPS = "update,security,models,vllm,ollama"
PORT = 8091
RATE = 1_000_000  # bytes/s for each class: a link of about 8 Mbit/s per server
MODEL_BYTES, TORCH_LIB_BYTES = 36_000_000, 45_000_000
THROTTLED = f"{PAYLOADS_IN_HOST}/throttled"
BLOB_LOG = f"/var/log/aimachine-test-mirror-{PORT}.jsonl"
CACHE = "/var/lib/vllm/huggingface/hub/models--Qwen--Tiny-Instruct-AWQ"  # the unit's HF_HOME/hub
FRESH = ("sudo systemctl stop vllm ollama aimachine-models 2>/dev/null; sudo rm -rf /opt/vllm/venv "
         "/usr/local/bin/ollama /usr/local/lib/ollama /var/cache/aimachine /var/lib/vllm/huggingface "
         "/var/lib/aimachine/models")


@pytest.fixture(scope="module")
def throttled(nspawn_host: NspawnHost, standin_payloads: Path,
              tmp_path_factory: pytest.TempPathFactory) -> NspawnHost:
    """The mirror's second copy, with weight in it (a 45 MB torch, 36 MB of model), served throttled, on
    a host converged once from the unthrottled mirror (the apt packages and the first-boot update done:
    what is measured is the model against the installs that come after it)."""
    build_mirror(standin_payloads / "throttled", VLLM_VERSION, OLLAMA_VERSION, model_bytes=MODEL_BYTES,
                 torch_lib_bytes=TORCH_LIB_BYTES)
    nspawn.serve_mirror(nspawn_host, THROTTLED, PORT, rates=f"hub={RATE},files={RATE}")
    folder = tmp_path_factory.mktemp("warm-up")
    configure(str(catalog_for(nspawn_host, folder, MIRROR_PORT)), SHIPPED_VM, steps=STEPS,
              env=ssh_env(nspawn_host))
    return nspawn_host


def catalog_for(host: NspawnHost, folder: Path, port: int = PORT) -> Path:
    url = f"http://127.0.0.1:{port}"
    return build_catalog(folder, {
        **mirror_settings(noble_base.PYTHON),
        "login.ssh_public_key_file": f"{host.key}.pub",
        "firewall.admin_network": "10.213.0.0/30",
        "services.vllm.version": VLLM_VERSION,
        "services.vllm.index_url": f"{url}/simple",
        "services.vllm.hf_endpoint": url,
        "services.ollama.version": OLLAMA_VERSION,
        "services.ollama.url": f"{url}/ollama/v{{version}}/{{asset}}",
    })


def ssh_env(host: NspawnHost) -> dict[str, str]:
    return {"AIMACHINE_SSH_HOST": host.address, "AIMACHINE_SSH_KEY": str(host.key),
            "AIMACHINE_SSH_KNOWN_HOSTS": str(host.known_hosts)}


def on_host(host: NspawnHost, command: str) -> str:
    result = host.ssh(command)
    assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
    return result.stdout


def fetch_status(host: NspawnHost) -> dict:
    return json.loads(on_host(host, "cat /var/lib/aimachine/models/status.json"))


def blob_requests(host: NspawnHost) -> list[dict]:
    lines = on_host(host, f"cat {BLOB_LOG} 2>/dev/null || true").splitlines()
    return [r for r in map(json.loads, lines) if r["path"].startswith("/lfs/")]


def test_the_model_downloads_beside_the_installs_not_after_them(throttled, tmp_path, capsys):
    host = throttled
    on_host(host, FRESH)
    catalog = catalog_for(host, tmp_path)
    start = time.monotonic()
    outcome = configure(str(catalog), SHIPPED_VM, steps=STEPS, env=ssh_env(host))
    wall = time.monotonic() - start
    status = fetch_status(host)
    download = status["finished"] - status["started"]
    waits = [s for name, s in outcome.timings if "Wait for the download" in name]
    install = sum(s for name, s in outcome.timings if "Wait for the download" not in name)
    longer = max(download, install)
    with capsys.disabled():
        print(f"\n  configure {wall:.1f} s; model download {download:.1f} s; installs {install:.1f} s; "
              f"waited for the model {sum(waits):.1f} s; one after the other: {download + install:.1f} s")
    assert status["state"] == "done" and status["fetched"] >= MODEL_BYTES
    # both are long enough that running them in turn would fail the bound below
    assert download > 30 and install > 30 and download + install > 1.5 * longer
    assert wall <= 1.15 * longer
    assert [f for f in outcome.fetched if f.startswith(f"fetched {STANDIN_MODEL}: 36.0 MB in ")]
    # the files are vllm's, where the unit's HF_HOME points, and vLLM was started after them
    owner = on_host(host, f"sudo sh -c 'stat -c %U -L {CACHE}/snapshots/*/model.safetensors'")
    assert owner.strip() == "vllm"
    assert on_host(host, "systemctl is-active vllm").strip() == "active"
    again = configure(str(catalog), SHIPPED_VM, steps=STEPS, env=ssh_env(host))
    assert again.changed == 0, again.operations


def test_a_run_cut_short_in_the_download_resumes_it_and_the_next_changes_nothing(throttled, tmp_path):
    host = throttled
    on_host(host, FRESH + f"; sudo truncate -s 0 {BLOB_LOG}")
    catalog = catalog_for(host, tmp_path)
    argv = [aimachine_bin(), "configure", SHIPPED_VM, "--steps", STEPS, "--catalog", str(catalog)]
    run = subprocess.Popen(argv, env={**os.environ, **ssh_env(host)}, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
    part = f"{CACHE}/blobs/*.incomplete"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        size = host.ssh(f"sudo sh -c 'stat -c %s {part}' 2>/dev/null").stdout.strip()
        if size and int(size) > MODEL_BYTES // 3:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the model download never got a third of the way")
    # the download dies on the VM (a reboot, a power cut), and the run that waited for it is cut off too
    on_host(host, "sudo systemctl kill -s KILL aimachine-models; sleep 1")
    os.killpg(run.pid, signal.SIGKILL)
    run.communicate(timeout=60)
    kept = int(on_host(host, f"sudo sh -c 'stat -c %s {part}'").strip())
    assert 0 < kept < MODEL_BYTES
    resumed = subprocess.run(argv, env={**os.environ, **ssh_env(host)}, capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "were already there from an earlier run" in resumed.stdout
    # the mirror was asked for the rest (Range: bytes=KEPT-) and sent just that...
    requests = blob_requests(host)
    assert [r for r in requests if r["start"] == kept and r["sent"] == MODEL_BYTES - kept], (kept, requests)
    # ...and the fetcher moved no more than that in this run
    status = fetch_status(host)
    assert status["resumed"] == kept and status["fetched"] < MODEL_BYTES - kept + 10_000, (status, requests)
    second = subprocess.run(argv, env={**os.environ, **ssh_env(host)}, capture_output=True, text=True,
                            timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"configure {SHIPPED_VM}: 0 operations changed" in second.stdout
