"""The deploy's catalog phase: the shipped catalog needs nothing from the admin but the public key file
(no checksum to look up: the CUDA repository is verified by its key's fingerprint)."""

from __future__ import annotations

import subprocess

from tests.conftest import run_aimachine
from tests.harness.catalog import build_catalog


def test_the_shipped_catalog_with_only_a_key_file_passes_the_catalog_phase(tmp_path, monkeypatch):
    """A whole deploy (all steps, cuda included): the catalog phase passes; preflight then stops on the
    missing API variables, before anything is contacted."""
    for name in ("PROXMOX_VE_ENDPOINT", "PROXMOX_VE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    catalog = build_catalog(tmp_path, {"login.ssh_public_key_file": f"{key}.pub"})
    result = run_aimachine("deploy", "vm-llm-aimachine", "--catalog", str(catalog),
                           env={"AIMACHINE_STATE_DIR": str(tmp_path)})
    assert result.returncode == 3, result.stdout + result.stderr
    assert "[1/7] catalog ok" in result.stdout and "[2/7] preflight FAILED" in result.stdout
    assert "PROXMOX_VE_ENDPOINT is not set" in result.stderr
    assert "sha256" not in result.stdout + result.stderr


def test_until_and_dry_run_do_not_mix():
    result = run_aimachine("deploy", "vm-llm-aimachine", "--dry-run", "--until", "boot")
    assert result.returncode == 2 and "do not go together" in result.stderr


def test_all_on_a_one_vm_catalog_is_the_deploy_of_that_vm(tmp_path, monkeypatch):
    for name in ("PROXMOX_VE_ENDPOINT", "PROXMOX_VE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    catalog = build_catalog(tmp_path, {"login.ssh_public_key_file": f"{key}.pub"})
    env = {"AIMACHINE_STATE_DIR": str(tmp_path)}
    runs = [run_aimachine("deploy", *args, "--catalog", str(catalog), env=env)
            for args in (["--all"], ["vm-llm-aimachine"])]
    assert [r.returncode for r in runs] == [3, 3]
    assert runs[0].stdout == runs[1].stdout and runs[0].stderr == runs[1].stderr


def test_the_help_names_several_vms_and_all():
    result = run_aimachine("deploy", "--help")
    assert result.returncode == 0
    assert "Usage: aimachine deploy [OPTIONS] NAME..." in result.stdout
    text = " ".join(result.stdout.split())  # as click wraps it
    assert "--all" in text and "one VM at a time" in text and "configure every VM at once" in text


def test_names_or_all_not_both_nor_neither():
    for args in ([], ["--all", "vm-llm-aimachine"]):
        result = run_aimachine("deploy", *args)
        assert result.returncode == 2 and "name the VMs to deploy, or --all" in result.stderr
