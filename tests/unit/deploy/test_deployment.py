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
