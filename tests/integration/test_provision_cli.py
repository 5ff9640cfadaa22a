"""`aimachine provision` through the real CLI: the simulator as Proxmox, a stand-in Terraform that
applies the catalog through the simulator's API, and a stand-in ssh that runs commands locally."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from deploy import privileges
from tests.conftest import run_aimachine
from tests.pve_sim.cli_env import PUBLIC_KEY, cli_env, write_catalog
from tests.pve_sim.fixture import TOKEN, healthy_state

SECRET = TOKEN.split("=", 1)[1]
NODE = "android-19"
GPU_BUSY = "start failed: PCI device '0000:01:00.0' already in use by VMID '120'"


def _state(tmp_path: Path) -> dict:
    state = healthy_state()
    state["nodes"][NODE]["storage"]["local"]["path"] = str(tmp_path / "vz")
    return state


def _provision(sim, tmp_path: Path, **env: str):
    catalog = write_catalog(tmp_path)
    result = run_aimachine("provision", "vm-llm-aimachine", "--catalog", str(catalog),
                           "--terraform-bin", "terraform", env=cli_env(sim, tmp_path, **env))
    out = result.stdout + result.stderr
    assert SECRET not in out, "the API token secret leaked into the output"
    assert "Traceback" not in out
    return result


def _deletes(sim) -> list[dict]:
    return [c for c in sim.changes() if c["method"] == "DELETE"]


def test_provision_builds_the_vm_and_a_rerun_changes_nothing(pve_sim, tmp_path: Path) -> None:
    sim = pve_sim(_state(tmp_path))
    first = _provision(sim, tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    for n, phase in enumerate(["catalog", "preflight", "cloud-init", "provision", "boot"], 1):
        assert f"[{n}/5] {phase} ok (" in first.stdout
    vm = sim.vms()[140]
    assert vm["status"] == "running"
    assert vm["config"]["hostpci0"] == "mapping=rtx5060ti,pcie=1"
    assert vm["config"]["cicustom"] == "user=local:snippets/vm-llm-aimachine-user-data.yaml"
    snippet = (tmp_path / "vz/snippets/vm-llm-aimachine-user-data.yaml").read_text()
    assert PUBLIC_KEY in snippet and "hostname: vm-llm-aimachine" in snippet
    assert PUBLIC_KEY not in (tmp_path / "tfstate/vm-llm-aimachine.json").read_text()
    state = json.loads((tmp_path / "state/vm-llm-aimachine.json").read_text())
    assert state["address"] == "198.51.100.140"  # TEST-NET: the stand-in ssh never connects
    # the mapping already existed on the host: imported, not created a second time
    assert not [c for c in sim.changes() if c["path"] == "/cluster/mapping/pci"]

    before = len(sim.changes())
    second = _provision(sim, tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "matches the catalog: no changes" in second.stdout
    assert "vm-llm-aimachine-user-data.yaml: unchanged" in second.stdout
    assert sim.changes()[before:] == [], "a re-run on a matching VM must change nothing"
    calls = (tmp_path / "tfstate/calls.log").read_text().splitlines()
    assert sum(c.startswith("apply") for c in calls) == 1


@pytest.mark.parametrize("fail", ["apply-after-create", "apply-after-create,destroy"],
                         ids=["terraform destroy", "api purge after destroy failed"])
def test_failed_apply_rolls_back_the_vm_it_created(pve_sim, tmp_path: Path, fail: str) -> None:
    sim = pve_sim(_state(tmp_path))
    result = _provision(sim, tmp_path, FAKE_TERRAFORM_FAIL=fail)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "[4/5] provision FAILED" in result.stdout
    assert "rolled back: VM 140 removed" in result.stderr
    assert 140 not in sim.vms()
    assert 120 in sim.vms(), "the other VM is never touched"
    purges = [c for c in _deletes(sim) if c["params"].get("destroy-unreferenced-disks") == "1"]
    assert bool(purges) == ("destroy" in fail)


def test_gpu_busy_at_start_is_translated_and_rolled_back(pve_sim, tmp_path: Path) -> None:
    state = _state(tmp_path)
    state["faults"] = [{"method": "POST", "path": f"/nodes/{NODE}/qemu/140/status/start",
                        "exitstatus": GPU_BUSY}]
    sim = pve_sim(state)
    result = _provision(sim, tmp_path)
    assert result.returncode == 4
    assert "the GPU 0000:01:00.0 is already in use by VM 120 'gaming'" in result.stderr
    assert "remedy: stop VM 120 (`qm stop 120`)" in result.stderr
    assert 140 not in sim.vms()


@pytest.mark.parametrize("fail", ["", "destroy"])
def test_a_vm_that_existed_before_survives_a_failed_apply(pve_sim, tmp_path: Path, fail: str) -> None:
    state = _state(tmp_path)
    state["nodes"][NODE]["vms"][140] = {"name": "vm-llm-aimachine", "status": "stopped",
                                        "config": {"name": "vm-llm-aimachine", "cores": 2}}
    sim = pve_sim(state)
    result = _provision(sim, tmp_path, FAKE_TERRAFORM_FAIL=fail)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "existed before this run and was left as it is" in result.stderr
    assert sim.vms()[140]["config"]["cores"] == 2
    assert _deletes(sim) == []


def test_another_vms_id_stops_provision_before_any_change(pve_sim, tmp_path: Path) -> None:
    state = _state(tmp_path)
    state["nodes"][NODE]["vms"][140] = {"name": "database", "status": "running", "config": {}}
    sim = pve_sim(state)
    result = _provision(sim, tmp_path)
    assert result.returncode == 3
    assert sim.changes() == []
    assert not (tmp_path / "vz").exists(), "no snippet is written when preflight fails"


def test_a_token_with_exactly_the_needed_privileges_provisions(pve_sim, tmp_path: Path) -> None:
    """The one constant is enough for every call of a deploy, the tool's and the stand-in Terraform's,
    as the simulator checks them (a 403 anywhere would fail this run)."""
    state = _state(tmp_path)
    state["tokens"] = [{"token": TOKEN, "privs": privileges.names()}]
    state["mappings"]["pci"] = {}  # Terraform creates the mapping: Mapping.Modify is exercised too
    sim = pve_sim(state)
    result = _provision(sim, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok   privileges:" in result.stdout
    assert [c["path"] for c in sim.changes()][:2] == ["/cluster/mapping/pci", f"/nodes/{NODE}/qemu"]
    assert sim.vms()[140]["status"] == "running"


def test_a_403_from_the_guest_agent_stops_boot_at_once(pve_sim, tmp_path: Path) -> None:
    state = _state(tmp_path)
    state["faults"] = [{"method": "GET", "path": f"/nodes/{NODE}/qemu/140/agent/network-get-interfaces",
                        "status": 403, "message": "Permission check failed (/vms/140, VM.Monitor)",
                        "times": 1000}]
    sim = pve_sim(state)
    started = time.monotonic()
    result = _provision(sim, tmp_path)
    assert result.returncode == 5, result.stdout + result.stderr
    assert time.monotonic() - started < 60, "boot waited for the agent despite a 403"
    assert "[5/5] boot FAILED" in result.stdout + result.stderr
    assert "may not read VM 140's address from the guest agent: it lacks VM.Monitor on /vms/140" \
        in result.stderr
    assert "pveum role add AImachine" in result.stderr
