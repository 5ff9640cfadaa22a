"""`aimachine provision` through the real CLI, driving the real Terraform and bpg/proxmox provider
against the Proxmox VE simulator over HTTPS, with a stand-in ssh that runs commands locally."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import run_aimachine
from tests.pve_sim.cli_env import PUBLIC_KEY, cli_env, least_privileges, write_catalog
from tests.pve_sim.fixture import IMPORT_IMAGE, TOKEN, healthy_state

SECRET = TOKEN.split("=", 1)[1]
NODE = "android-19"
GPU_BUSY = "PCI device '0000:01:00.0' already in use by VMID '120'"
START = f"/nodes/{NODE}/qemu/140/status/start"


def _state(tmp_path: Path) -> dict:
    state = healthy_state()
    state["nodes"][NODE]["storage"]["local"]["path"] = str(tmp_path / "vz")
    return state


def _cli(sim, tmp_path: Path, *args: str, catalog: Path | None = None, **env: str):
    catalog = catalog or write_catalog(tmp_path)
    result = run_aimachine(*args, "vm-llm-aimachine", "--catalog", str(catalog),
                           env=cli_env(sim, tmp_path, **env), timeout=300)
    out = result.stdout + result.stderr
    assert SECRET not in out, "the API token secret leaked into the output"
    assert "Traceback" not in out
    return result


def _provision(sim, tmp_path: Path, *flags: str, **kwargs):
    return _cli(sim, tmp_path, "provision", *flags, **kwargs)


def _plan(sim, tmp_path: Path, **kwargs):
    """`aimachine plan` up to Terraform's plan: no cuda step (no keyring needed), and no recorded address
    (the stand-in VM's TEST-NET address is never reachable)."""
    return _cli(sim, tmp_path, "plan", "--steps", "base", AIMACHINE_STATE_DIR=str(tmp_path / "plan"),
                **kwargs)


def _writes(sim, since: int = 0) -> list[dict]:
    return sim.changes()[since:]


def _deletes(sim) -> list[dict]:
    return [c for c in sim.changes() if c["method"] == "DELETE"]


def _tf_state(tmp_path: Path) -> str:
    return (tmp_path / "terraform/terraform.tfstate.d/vm-llm-aimachine/terraform.tfstate").read_text()


@pytest.mark.parametrize("version", ["8.4", "9.1"])
def test_provision_builds_the_vm_and_a_rerun_changes_nothing(pve_sim, tmp_path: Path, version: str) -> None:
    """Every call of the tool and of the real provider is verified against that version's schema."""
    state = _state(tmp_path)
    state["version"] = version
    sim = pve_sim(state)
    first = _provision(sim, tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    for n, phase in enumerate(["catalog", "preflight", "cloud-init", "provision", "boot"], 1):
        assert f"[{n}/5] {phase} ok (" in first.stdout
    vm = sim.vms()[140]
    assert vm["status"] == "running"
    config = vm["config"]
    assert config["hostpci0"].startswith("mapping=rtx5060ti,pcie=1")
    assert config["cicustom"] == "user=local:snippets/vm-llm-aimachine-user-data.yaml"
    # stored as Proxmox stores it: the imported image resized to disk_gb, a MAC on the NIC
    assert config["virtio0"].startswith("local-zfs:vm-140-disk-1,")
    assert config["virtio0"].endswith(",size=500G")
    assert config["efidisk0"].startswith("local-zfs:vm-140-disk-0,efitype=4m,pre-enrolled-keys=0")
    assert config["net0"].startswith("virtio=BC:24:11:")
    snippet = (tmp_path / "vz/snippets/vm-llm-aimachine-user-data.yaml").read_text()
    assert PUBLIC_KEY in snippet and "hostname: vm-llm-aimachine" in snippet
    tf_state = _tf_state(tmp_path)
    assert PUBLIC_KEY not in tf_state and SECRET not in tf_state
    assert "using the existing PCI mapping rtx5060ti" in first.stdout
    assert not [c for c in sim.changes() if "/cluster/mapping" in c["path"]], \
        "a mapping made by hand is used by name, never created, changed or deleted"

    before, reads = len(sim.changes()), len(sim.state()["reads"])
    second = _cli(sim, tmp_path, "deploy", "--until", "provision")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "matches the catalog: no changes" in second.stdout
    assert "vm-llm-aimachine-user-data.yaml: unchanged" in second.stdout
    assert _writes(sim, before) == [], "a re-run on a matching VM must change nothing"
    assert len(sim.state()["reads"]) > reads, "the re-run did read the host (a real plan)"


def test_a_rerun_that_manages_its_own_mapping_changes_nothing_either(pve_sim, tmp_path: Path) -> None:
    state = _state(tmp_path)
    state["mappings"]["pci"] = {}
    sim = pve_sim(state)
    assert _provision(sim, tmp_path).returncode == 0
    created = sim.state()["mappings"]["pci"]["rtx5060ti"]
    assert created["description"] == "10de:2d04 at 0000:01:00, managed by aimachine"
    assert created["map"] == ["id=10de:2d04,node=android-19,path=0000:01:00,iommugroup=14,"
                              "subsystem-id=19da:5300"]
    before = len(sim.changes())
    again = _provision(sim, tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _writes(sim, before) == []


def test_gpu_busy_at_start_is_translated_and_rolled_back(pve_sim, tmp_path: Path) -> None:
    """The real provider leaves the VM it created (tainted) when the start task fails: rollback removes
    that VM through terraform destroy, and nothing else."""
    state = _state(tmp_path)
    state["faults"] = [{"method": "POST", "path": START, "exitstatus": GPU_BUSY}]
    sim = pve_sim(state)
    result = _provision(sim, tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "[4/5] provision FAILED" in result.stdout
    assert "the GPU 0000:01:00.0 is already in use by VM 120 'gaming'" in result.stderr
    assert "remedy: stop VM 120 (`qm stop 120`)" in result.stderr
    assert "rolled back: VM 140 removed" in result.stderr
    assert 140 not in sim.vms()
    assert 120 in sim.vms(), "the other VM is never touched"
    assert "rtx5060ti" in sim.state()["mappings"]["pci"], "the shared mapping stays"
    assert [c["path"] for c in _deletes(sim)] == [f"/nodes/{NODE}/qemu/140"]
    volumes = [v["volid"] for v in sim.state()["nodes"][NODE]["storage"]["local-zfs"]["volumes"]]
    assert volumes == [], "the rolled-back VM's disks are purged"


def test_rollback_purges_through_the_api_when_terraform_destroy_fails(pve_sim, tmp_path: Path) -> None:
    state = _state(tmp_path)
    state["faults"] = [{"method": "POST", "path": START, "exitstatus": GPU_BUSY},
                       {"method": "DELETE", "path": f"/nodes/{NODE}/qemu/140", "status": 500,
                        "message": "unable to destroy VM 140 - got timeout", "times": 50,
                        "client": "Go-http-client"}]  # the provider's requests only
    sim = pve_sim(state)
    result = _provision(sim, tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "terraform destroy failed; removing the VM through the API" in result.stdout
    assert "rolled back: VM 140 removed" in result.stderr
    assert 140 not in sim.vms() and 120 in sim.vms()
    assert sim.state()["faults"], "the provider's DELETE kept failing"


def test_a_vm_that_existed_before_survives_a_failed_apply(pve_sim, tmp_path: Path) -> None:
    """VM 140 exists (same name) but not in this workspace's state: the create fails, and nothing is
    deleted."""
    state = _state(tmp_path)
    state["nodes"][NODE]["vms"][140] = {"name": "vm-llm-aimachine", "status": "stopped",
                                        "config": {"name": "vm-llm-aimachine", "cores": 2}}
    sim = pve_sim(state)
    result = _provision(sim, tmp_path)
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


def test_a_change_that_would_replace_the_vm_stops_before_apply(pve_sim, tmp_path: Path) -> None:
    """Moving the cloud-init snippet to another storage changes user_data_file_id, which the provider
    can only apply by destroying and re-creating the VM."""
    state = _state(tmp_path)
    state["nodes"][NODE]["storage"]["snips"] = {"type": "dir", "content": "snippets",
                                                "path": str(tmp_path / "snips")}
    sim = pve_sim(state)
    assert _provision(sim, tmp_path).returncode == 0
    disk = sim.vms()[140]["config"]["virtio0"]
    catalog = write_catalog(tmp_path)
    catalog.write_text(catalog.read_text().replace("snippets: local", "snippets: snips"))
    before = len(sim.changes())

    planned = _plan(sim, tmp_path, catalog=catalog)
    assert "Terraform would replace the VM (forced by: initialization[0].user_data_file_id)" \
        in planned.stdout, planned.stdout

    stopped = _provision(sim, tmp_path, catalog=catalog)
    assert stopped.returncode == 4, stopped.stdout + stopped.stderr
    assert "the plan would replace VM 140 vm-llm-aimachine (forced by: initialization[0].user_data_file_id)" \
           "; the VM was not touched" in stopped.stderr
    assert "--allow-replace" in stopped.stderr
    assert _writes(sim, before) == [], "no API write when the plan would replace the VM"
    assert sim.vms()[140]["config"]["virtio0"] == disk, "the VM is still there, untouched"
    assert not list((tmp_path / "terraform").glob("*.tfplan")), "the refused plan is not left behind"

    replaced = _provision(sim, tmp_path, "--allow-replace", catalog=catalog)
    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
    assert [c["method"] for c in _writes(sim, before) if c["path"] == f"/nodes/{NODE}/qemu/140"] == ["DELETE"]
    assert sim.vms()[140]["config"]["cicustom"] == "user=snips:snippets/vm-llm-aimachine-user-data.yaml"


def test_a_mapping_deleted_outside_terraform_is_made_again(pve_sim, tmp_path: Path) -> None:
    state = _state(tmp_path)
    state["mappings"]["pci"] = {}
    sim = pve_sim(state)
    assert _provision(sim, tmp_path).returncode == 0
    sim.edit(lambda s: s["mappings"]["pci"].clear())  # someone removed it under Resource Mappings
    again = _provision(sim, tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "the PCI mapping rtx5060ti was deleted outside Terraform: creating it again" in again.stdout
    assert "rtx5060ti" in sim.state()["mappings"]["pci"]


def test_a_node_without_the_gpus_subsystem_id_still_plans(pve_sim, tmp_path: Path) -> None:
    state = _state(tmp_path)
    state["mappings"]["pci"] = {}
    for dev in state["nodes"][NODE]["pci"]:
        dev.pop("subsystem_vendor", None)
        dev.pop("subsystem_device", None)
    sim = pve_sim(state)
    result = _provision(sim, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (entry,) = sim.state()["mappings"]["pci"]["rtx5060ti"]["map"]
    assert "subsystem-id" not in entry and "iommugroup=14" in entry


def test_a_token_with_exactly_the_needed_privileges_provisions(pve_sim, tmp_path: Path) -> None:
    """The one constant is enough for every call of a deploy, the tool's and the real provider's, as the
    simulator checks them (a 403 anywhere would fail this run)."""
    state = _state(tmp_path)
    state["tokens"] = [{"token": TOKEN, "privs": least_privileges()}]
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


@pytest.mark.parametrize("image", [IMPORT_IMAGE])
def test_terraform_never_waits_for_a_silent_guest_agent(pve_sim, tmp_path: Path, image: str) -> None:
    """A running VM whose agent does not answer: plan and destroy return at once (the provider would
    otherwise wait agent.timeout on every read)."""
    sim = pve_sim(_state(tmp_path))
    assert _provision(sim, tmp_path, catalog=write_catalog(tmp_path, image=image)).returncode == 0
    sim.edit(lambda s: s["nodes"][NODE]["vms"][140].pop("agent"))  # the guest agent stopped answering
    started = time.monotonic()
    planned = _plan(sim, tmp_path)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "Terraform: no changes" in planned.stdout
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("command", ["deploy", "plan"])
def test_a_preflight_failure_is_reported_once(pve_sim, tmp_path: Path, command: str) -> None:
    """deploy and plan printed the reason in their summary and again as the error that ends the run."""
    state = _state(tmp_path)
    state["nodes"][NODE]["vms"][120]["status"] = "running"
    sim = pve_sim(state)
    result = _cli(sim, tmp_path, command, AIMACHINE_STATE_DIR=str(tmp_path / "plan"))
    out = result.stdout + result.stderr
    assert result.returncode == 3, out
    assert out.count("1 check failed (gpu-free)") == 1, out
    assert result.stderr.startswith("preflight: 1 check failed (gpu-free); nothing was changed")
    assert sim.changes() == []
