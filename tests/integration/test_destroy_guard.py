"""lifecycle.destroy, called directly: it refuses a VM of another name at the catalog's id (checked
again after the prompt, whatever the CLI did before), says when Terraform's destroy failed or left the
VM, and forgets the recorded address of the VM it removed."""

from __future__ import annotations

from pathlib import Path

import pytest

from aimachine.errors import EXIT_CODES, PhaseError
from aimachine.proxmox import lifecycle, status
from aimachine.proxmox import provision as prov
from aimachine.proxmox.terraform import TerraformError
from aimachine.reach import state
from tests.integration.test_rollback_ownership import NODE, RecordingTerraform, _ours, _run


def _destroy(sim, tmp_path: Path, monkeypatch, tf: RecordingTerraform) -> str:
    run = _run(sim, tmp_path, monkeypatch, [])

    def settled(run_, binary, phase="provision"):
        assert (run_, binary, phase) == (run, "/opt/tofu", "destroy")
        return tf

    monkeypatch.setattr(prov, "terraform_settled", settled)
    monkeypatch.setenv("AIMACHINE_STATE_DIR", str(tmp_path / "state"))
    return lifecycle.destroy(run, "/opt/tofu")


def test_a_vm_of_another_name_is_refused_before_terraform(pve_sim, tmp_path: Path, monkeypatch) -> None:
    state_ = _ours()
    state_["nodes"][NODE]["vms"][140]["name"] = "database"
    sim = pve_sim(state_)
    tf = RecordingTerraform()
    with pytest.raises(PhaseError) as err:
        _destroy(sim, tmp_path, monkeypatch, tf)
    assert err.value.message == ("VM 140 on android-19 is named 'database', not 'vm-llm-aimachine': "
                                 "refusing to destroy it")
    assert err.value.phase == "destroy"
    assert tf.destroyed == 0 and sim.changes() == []


def test_ours_is_destroyed_and_its_address_forgotten(pve_sim, tmp_path: Path, monkeypatch) -> None:
    sim = pve_sim(_ours())
    monkeypatch.setenv("AIMACHINE_STATE_DIR", str(tmp_path / "state"))
    state.update("vm-llm-aimachine", address="198.51.100.140")
    tf = RecordingTerraform(then=lambda: sim.edit(lambda s: s["nodes"][NODE]["vms"].pop(140)))
    assert _destroy(sim, tmp_path, monkeypatch, tf) == "VM 140 vm-llm-aimachine destroyed"
    assert state.recorded_address("vm-llm-aimachine") is None and tf.destroyed == 1


def test_a_failed_terraform_destroy_says_what_may_be_left(pve_sim, tmp_path: Path, monkeypatch) -> None:
    sim = pve_sim(_ours())
    with pytest.raises(PhaseError) as err:
        _destroy(sim, tmp_path, monkeypatch, RecordingTerraform(fails=True))
    assert (err.value.phase, err.value.message, err.value.remedy) == (
        "destroy", "terraform destroy failed; VM 140 may still exist",
        "read the output above; `aimachine status` shows what is left")


def test_a_vm_terraform_did_not_know_is_named_with_the_command(pve_sim, tmp_path: Path, monkeypatch) -> None:
    sim = pve_sim(_ours())
    with pytest.raises(PhaseError) as err:
        _destroy(sim, tmp_path, monkeypatch, RecordingTerraform())
    assert (err.value.phase, err.value.message, err.value.remedy) == (
        "destroy", "VM 140 still exists after terraform destroy",
        "it is not in this workspace's state: remove it on the node with `qm destroy 140 --purge`, after "
        "checking it is the right VM")


def test_terraform_failing_to_start_is_the_same_error(pve_sim, tmp_path: Path, monkeypatch) -> None:
    sim = pve_sim(_ours())

    def no_terraform(run, binary, phase="provision"):
        raise TerraformError("init", 1, "Error: Failed to query available provider packages")

    monkeypatch.setattr(prov, "terraform_settled", no_terraform)
    with pytest.raises(PhaseError, match="terraform init failed; VM 140 may still exist"):
        lifecycle.destroy(_run(sim, tmp_path, monkeypatch, []), None)


def test_without_credentials_each_command_fails_under_its_own_name(tmp_path: Path, monkeypatch) -> None:
    """Which phase a missing token is reported in decides the label and exit code: destroy's own (4),
    status's own (3), rollback's provision (4)."""
    from aimachine.catalog.schema import load_catalog
    from aimachine.proxmox.rollback import rollback
    from tests.pve_sim.cli_env import write_catalog

    for key in ("PROXMOX_VE_ENDPOINT", "PROXMOX_VE_API_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    cat = load_catalog(write_catalog(tmp_path))
    for phase, step in (("destroy", lambda run: lifecycle.holder(run)),
                        ("destroy", lambda run: lifecycle.destroy(run, None)),
                        ("status", lambda run: status.status_lines(run)),
                        ("provision", lambda run: rollback(run, RecordingTerraform()))):
        with pytest.raises(PhaseError) as err:
            step(prov.Run(cat, cat.vms[0], echo=print))
        assert err.value.phase == phase and "PROXMOX_VE_ENDPOINT is not set" in err.value.message
    assert (EXIT_CODES["status"], EXIT_CODES["destroy"]) == (3, 4)


def test_status_without_credentials_says_status_and_exits_3(tmp_path: Path, monkeypatch) -> None:
    """It said `provision: ...` and exited 4, another command's label and code."""
    from tests.conftest import run_aimachine
    from tests.pve_sim.cli_env import write_catalog

    env = {k: "" for k in ("PROXMOX_VE_ENDPOINT", "PROXMOX_VE_API_TOKEN")}
    result = run_aimachine("status", "vm-llm-aimachine", "--catalog", str(write_catalog(tmp_path)), env=env)
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith("status: ") and "provision" not in result.stderr
