"""Rollback removes the VM its run created and nothing else: when the catalog's VM id belongs to a VM of
another name (before Terraform's destroy or after it), it is left alone, with no write to the API; when
Terraform's destroy fails, the API stops and purges ours; when that fails too, the admin is told how."""

from __future__ import annotations

from pathlib import Path

import pytest

from aimachine.catalog.schema import load_catalog
from aimachine.errors import PhaseError
from aimachine.proxmox import gpu_state
from aimachine.proxmox import provision as prov
from aimachine.proxmox.rollback import rollback
from aimachine.proxmox.terraform import TerraformError
from aimachine.reach import state
from tests.pve_sim.cli_env import write_catalog
from tests.pve_sim.fixture import healthy_state

NODE = "android-19"


class RecordingTerraform:
    """Terraform's destroy as rollback calls it: recorded, and `then` run as its effect on the host
    (raising TerraformError when `fails`)."""

    def __init__(self, then=None, fails: bool = False):
        self.destroyed = 0
        self.then = then
        self.fails = fails

    def destroy_vm(self) -> None:
        self.destroyed += 1
        if self.then:
            self.then()
        if self.fails:
            raise TerraformError("destroy", 1, "Error: unexpected EOF")


# what rollback says after removing a VM that ran with the card
FORCED = gpu_state.stopped_note(140, "stopped (forced) by the rollback")


def _run(sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, said: list | None = None) -> prov.Run:
    for key, value in sim.env().items():
        monkeypatch.setenv(key, value)
    cat = load_catalog(write_catalog(tmp_path))
    return prov.Run(cat, cat.vm("vm-llm-aimachine"), echo=(said.append if said is not None else print))


def _ours(status: str = "running") -> dict:
    state = healthy_state()
    state["nodes"][NODE]["vms"][140] = {"name": "vm-llm-aimachine", "status": status, "config": {}}
    return state


def test_a_vm_of_another_name_at_the_id_is_left_alone(pve_sim, tmp_path: Path, monkeypatch) -> None:
    state = healthy_state()
    state["nodes"][NODE]["vms"][140] = {"name": "database", "status": "running", "config": {}}
    sim = pve_sim(state)
    tf = RecordingTerraform()
    outcome = rollback(_run(sim, tmp_path, monkeypatch), tf)
    assert outcome == "VM 140 is now 'database', not ours: left alone"
    assert tf.destroyed == 0, "terraform destroy would remove VM 140 by id"
    assert sim.changes() == [] and sim.vms()[140]["name"] == "database"


def test_a_vm_that_took_the_id_during_the_destroy_is_left_alone(pve_sim, tmp_path: Path,
                                                                monkeypatch) -> None:
    state = healthy_state()
    state["nodes"][NODE]["vms"][140] = {"name": "vm-llm-aimachine", "status": "running", "config": {}}
    sim = pve_sim(state)

    def someone_else_takes_140() -> None:
        sim.edit(lambda s: s["nodes"][NODE]["vms"].__setitem__(
            140, {"name": "database", "status": "running", "config": {}}))

    tf = RecordingTerraform(then=someone_else_takes_140)
    outcome = rollback(_run(sim, tmp_path, monkeypatch), tf)
    assert outcome == "VM 140 is now 'database', not ours: left alone"
    assert tf.destroyed == 1
    assert sim.changes() == [], "no stop or purge of someone else's VM"
    assert sim.vms()[140]["name"] == "database"


def test_no_vm_created_means_nothing_to_do(pve_sim, tmp_path: Path, monkeypatch) -> None:
    sim = pve_sim(healthy_state())
    tf = RecordingTerraform()
    assert rollback(_run(sim, tmp_path, monkeypatch), tf) == "no VM 140 was created"
    assert tf.destroyed == 0 and sim.changes() == []


def test_terraform_removes_ours(pve_sim, tmp_path: Path, monkeypatch) -> None:
    sim = pve_sim(_ours())
    said: list[str] = []
    tf = RecordingTerraform(then=lambda: sim.edit(lambda s: s["nodes"][NODE]["vms"].pop(140)))
    assert rollback(_run(sim, tmp_path, monkeypatch, said), tf) == "rolled back: VM 140 removed"
    # it ran with the card: an RTX 50 card may not reset after the stop (open-gpu-kernel-modules#853)
    assert said == ["  rolling back: removing VM 140, which this run created", FORCED]
    assert sim.changes() == [], "Terraform did it: no API write of ours"
    assert state.read("vm-llm-aimachine")["forced_stop"], "a later start that hangs names this stop"


@pytest.mark.parametrize("status", ["running", "stopped"])
def test_the_api_stops_and_purges_ours_when_terraform_fails(pve_sim, tmp_path: Path, monkeypatch,
                                                             status) -> None:
    sim = pve_sim(_ours(status))
    said: list[str] = []
    outcome = rollback(_run(sim, tmp_path, monkeypatch, said), RecordingTerraform(fails=True))
    assert outcome == "rolled back: VM 140 removed"
    assert said == ["  rolling back: removing VM 140, which this run created",
                    "  terraform destroy failed; removing the VM through the API",
                    *([FORCED] if status == "running" else [])]
    writes = [(c["method"], c["path"], c["params"]) for c in sim.changes()]
    stop = [("POST", f"/nodes/{NODE}/qemu/140/status/stop", {})] if status == "running" else []
    assert writes == [*stop, ("DELETE", f"/nodes/{NODE}/qemu/140",
                              {"purge": "1", "destroy-unreferenced-disks": "1"})]
    assert 140 not in sim.vms() and 120 in sim.vms()


def test_a_failed_purge_says_how_to_remove_the_vm(pve_sim, tmp_path: Path, monkeypatch) -> None:
    state = _ours("stopped")
    state["faults"] = [{"method": "DELETE", "path": f"/nodes/{NODE}/qemu/140", "status": 500,
                        "message": "unable to destroy: storage busy"}]
    sim = pve_sim(state)
    with pytest.raises(PhaseError) as err:
        rollback(_run(sim, tmp_path, monkeypatch, []), RecordingTerraform(fails=True))
    assert err.value.phase == "provision"
    assert err.value.message == ("rollback failed: VM 140 vm-llm-aimachine still exists "
                                 "(unable to destroy: storage busy)")
    assert err.value.remedy == ("remove it on the node: `qm stop 140; qm destroy 140 --purge "
                                "--destroy-unreferenced-disks 1`")


class ScriptedApi:
    """The API as rollback uses it, answering from a script and recording each call (for what the
    simulator cannot show: the node and deadline each task is waited on with)."""

    def __init__(self, running: bool):
        self.calls: list[tuple] = []
        self.deleted = False
        self.running = running

    def get(self, path, **params):
        self.calls.append(("get", path))
        if path == "cluster/resources":
            return [] if self.deleted else [{"vmid": 140, "name": "vm-llm-aimachine", "type": "qemu"}]
        return {"status": "running" if self.running else "stopped"}

    def post(self, path, **data):
        self.calls.append(("post", path))
        return "UPID:stop"

    def delete(self, path, **params):
        self.calls.append(("delete", path, params))
        self.deleted = True
        return "UPID:delete"

    def wait_task(self, node, upid, deadline_s=300, poll_s=1.0):
        self.calls.append(("wait", node, upid, deadline_s))
        return "OK"


@pytest.mark.parametrize("running", [True, False])
def test_the_purge_waits_on_the_vms_node_with_its_deadlines(tmp_path: Path, running: bool,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIMACHINE_STATE_DIR", str(tmp_path / "state"))
    cat = load_catalog(write_catalog(tmp_path))
    api = ScriptedApi(running)
    run = prov.Run(cat, cat.vm("vm-llm-aimachine"), echo=lambda line: None, api=api)
    assert rollback(run, RecordingTerraform(fails=True)) == "rolled back: VM 140 removed"
    stop = [("post", f"nodes/{NODE}/qemu/140/status/stop"), ("wait", NODE, "UPID:stop", 120)]
    status = ("get", f"nodes/{NODE}/qemu/140/status/current")
    assert api.calls == [
        ("get", "cluster/resources"), status, ("get", "cluster/resources"),
        ("get", f"nodes/{NODE}/qemu/140/status/current"), *(stop if running else []),
        ("delete", f"nodes/{NODE}/qemu/140", {"purge": 1, "destroy-unreferenced-disks": 1}),
        ("wait", NODE, "UPID:delete", 300), ("get", "cluster/resources")]
