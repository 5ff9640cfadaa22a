"""The deploy's catalog phase stops before anything changes when the CUDA keyring checksum is missing."""

from __future__ import annotations

from tests.conftest import ROOT, run_aimachine


def test_missing_keyring_checksum_stops_in_the_catalog_phase(tmp_path):
    result = run_aimachine("deploy", "vm-llm-aimachine", "--catalog", str(ROOT / "catalog.yml"),
                           env={"AIMACHINE_STATE_DIR": str(tmp_path)})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "[1/7] catalog FAILED" in result.stdout and "[2/7]" not in result.stdout
    assert "nvidia.cuda_keyring_sha256 is not set" in result.stderr
    assert "sha256sum cuda-keyring_1.1-1_all.deb" in result.stderr
    assert "https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2404/x86_64/" in result.stderr


def test_until_and_dry_run_do_not_mix():
    result = run_aimachine("deploy", "vm-llm-aimachine", "--dry-run", "--until", "boot")
    assert result.returncode == 2 and "do not go together" in result.stderr
