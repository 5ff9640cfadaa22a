"""Rollback never touches a VM it does not own: when the catalog's VM id belongs to a VM of another
name (before Terraform's destroy or after it), it is left alone, with no write to the API."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.catalog.schema import load_catalog
from deploy.proxmox import provision as prov
from deploy.proxmox.rollback import rollback
from tests.pve_sim.cli_env import write_catalog
from tests.pve_sim.fixture import healthy_state

NODE = "android-19"


class RecordingTerraform:
    """Terraform's destroy as rollback calls it: recorded, and `then` run as its effect on the host."""

    def __init__(self, then=None):
        self.destroyed = 0
        self.then = then

    def destroy_vm(self) -> None:
        self.destroyed += 1
        if self.then:
            self.then()


def _run(sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> prov.Run:
    for key, value in sim.env().items():
        monkeypatch.setenv(key, value)
    cat = load_catalog(write_catalog(tmp_path))
    return prov.Run(cat, cat.vm("vm-llm-aimachine"), echo=lambda line: None)


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
