"""Where Terraform runs: beside the catalog (.aimachine/terraform), the module's files as the package ships
them, and a checkout's older state adopted once, so a re-run after an upgrade still finds its VMs."""

from __future__ import annotations

from aimachine.proxmox import terraform as tf


def test_the_workspace_is_in_the_state_dir_unless_overridden(tmp_path, monkeypatch):
    monkeypatch.delenv(tf.DIR_ENV, raising=False)
    monkeypatch.setenv("AIMACHINE_STATE_DIR", str(tmp_path / ".aimachine"))
    assert tf.workspace_dir() == tmp_path / ".aimachine" / "terraform"
    monkeypatch.setenv(tf.DIR_ENV, str(tmp_path / "elsewhere"))
    assert tf.workspace_dir() == tmp_path / "elsewhere"


def test_the_module_is_synced_and_its_state_left_alone(tmp_path):
    work = tmp_path / "terraform"
    (work / "terraform.tfstate.d" / "vm-a").mkdir(parents=True)
    (work / "terraform.tfstate.d" / "vm-a" / "terraform.tfstate").write_text("{}")
    (work / "main.tf").write_text("# an older release's\n")
    (work / "gone.tf").write_text("# a file the package no longer ships\n")
    tf.sync_module(work)
    shipped = sorted(p.name for p in tf.MODULE_DIR.glob("*.tf"))
    assert sorted(p.name for p in work.glob("*.tf")) == shipped
    assert (work / "main.tf").read_text() == (tf.MODULE_DIR / "main.tf").read_text()
    assert (work / "terraform.tfstate.d" / "vm-a" / "terraform.tfstate").read_text() == "{}"


def test_a_checkouts_older_state_is_adopted_once(tmp_path):
    old = tmp_path / "terraform" / "terraform.tfstate.d" / "vm-llm-aimachine"
    old.mkdir(parents=True)
    (old / "terraform.tfstate").write_text('{"serial": 7}')
    work = tmp_path / ".aimachine" / "terraform"
    work.mkdir(parents=True)
    assert tf.adopt_checkout_state(work, tmp_path) == old.parent
    adopted = work / "terraform.tfstate.d" / "vm-llm-aimachine" / "terraform.tfstate"
    assert adopted.read_text() == '{"serial": 7}'
    assert (old / "terraform.tfstate").exists(), "the old copy is left as it was"
    (old / "terraform.tfstate").write_text('{"serial": 8}')
    assert tf.adopt_checkout_state(work, tmp_path) is None, "once: the workspace's own state wins after"
    assert tf.adopt_checkout_state(tmp_path / "fresh", tmp_path / "no-checkout") is None
