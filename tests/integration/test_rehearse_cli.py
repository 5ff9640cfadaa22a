"""`make rehearse` / `aimachine rehearse`: the deploy's phases for real (Terraform, the bpg provider,
the simulator as the host; as root a local guest), each failure scenario with the exit code and remedy
the real host gives, and nothing left behind."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from aimachine.rehearsal import archive_cache, guest
from tests.conftest import ROOT, run_aimachine
from tests.harness.fixtures import require_test_host
from tests.harness.terraform_tools import require_tools

VM = "vm-llm-aimachine"
PHASES = ("catalog", "preflight", "cloud-init", "provision", "boot")


def _env(tmp_path: Path) -> dict[str, str]:
    require_tools()
    before = os.environ.get("AIMACHINE_TEST_HOSTS", "")
    hosts = ",".join(h for h in (before, guest.REHEARSAL_NET.target_ip) if h)
    # the admin's real endpoint in the environment must be ignored, never contacted (the guard would raise)
    return {"TMPDIR": str(tmp_path), "AIMACHINE_TEST_HOSTS": hosts,
            "PROXMOX_VE_ENDPOINT": "https://192.168.0.19:8006",
            "PROXMOX_VE_API_TOKEN": "root@pam!real=secret"}


def _rehearse(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    result = run_aimachine("rehearse", VM, *args, env=_env(tmp_path), timeout=900)
    out = result.stdout + result.stderr
    assert "Traceback" not in out and "internal error" not in out, out
    assert "root@pam!real=secret" not in out and "192.168.0.19:8006 accepts" not in out
    return result


def _left_behind(tmp_path: Path) -> list[str]:
    return [p.name for p in tmp_path.iterdir() if p.name.startswith("aimachine-rehearse-")]


def _no_guest_left() -> None:
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=False).stdout
    assert f"ve-{guest.REHEARSAL_NET.name}" not in links
    listeners = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=False).stdout
    assert f"{guest.REHEARSAL_NET.host_ip}:{archive_cache.PORT}" not in listeners  # the archive cache
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=False).stdout
    assert f"-M {guest.REHEARSAL_NET.name}" not in procs


def test_proxmox_half_runs_the_deploy_phases_to_the_summary(tmp_path: Path) -> None:
    result = _rehearse(tmp_path, "--no-guest")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for number, phase in enumerate(PHASES, start=1):
        assert f"[{number}/7] {phase} ok" in out
    assert "Installed bpg/proxmox v0.111.1" in out, "the real provider applies the catalog"
    assert "Apply complete! Resources: 2 added" in out
    assert "ok   gpu: 10de:2d04 at 0000:01:00 (2 functions)" in out, "the host is built from the catalog"
    assert f"rehearse {VM}: done" in out and "not rehearsed: configure, verify (--no-guest)" in out
    assert _left_behind(tmp_path) == [], "the scratch directory is removed"


@pytest.mark.parametrize(("scenario", "code", "failed", "remedy"), [
    ("gpu-busy", 3, "FAIL gpu-free: the GPU is held by running VM 120 'gaming'",
     "remedy: stop VM 120 (`qm stop 120`)"),
    ("iommu-off", 3, "FAIL iommu: IOMMU is off (iommugroup -1 for 0000:01:00.0)",
     "remedy: turn IOMMU on: add `intel_iommu=on iommu=pt`"),
    ("vmid-taken", 3, "FAIL vmid: VM id 140 belongs to 'backup-server'",
     "remedy: choose another vmid for vm-llm-aimachine in catalog.yml (next free: 141)"),
    ("storage-small", 3, "FAIL storage: local-zfs has 100 GiB free, the disk needs 500 GiB",
     "remedy: free 400 GiB on local-zfs"),
    ("start-fails", 4,
     "the GPU 0000:01:00.0 is already in use by VM 120 'gaming'; rolled back: VM 140 removed",
     "remedy: stop VM 120 (`qm stop 120`)"),
    ("gpu-stuck", 4,
     "VM 140 did not finish starting: an RTX 50 card that did not reset after its last VM stop hangs the "
     "start (NVIDIA/open-gpu-kernel-modules#853)", "remedy: power-cycle the Proxmox host"),
])
def test_each_scenario_ends_as_the_real_host_would(tmp_path: Path, scenario: str, code: int, failed: str,
                                                   remedy: str) -> None:
    result = _rehearse(tmp_path, "--scenario", scenario, "--keep")
    out = result.stdout + result.stderr
    assert result.returncode == code, out
    assert failed in out and remedy in result.stderr
    (kept,) = _left_behind(tmp_path)
    state = yaml.safe_load((tmp_path / kept / "pve-state.yml").read_text())
    assert state["tokens"][0].split("=", 1)[1] not in out, "the rehearsal's token secret is never printed"
    vms = state["nodes"]["android-19"]["vms"]
    if code == 3:
        assert state["journal"] == [], "a failed preflight changes nothing"
    else:
        assert 140 not in vms, "rollback removed the VM this run created"
        assert all(vm["name"] != "vm-llm-aimachine" for vm in vms.values())
        if 120 in state["nodes"]["android-19"]["vms"]:
            assert vms[120]["name"] == "gaming", "rollback removed only its own VM"
    assert f"kept: {tmp_path / kept}" in out


def test_make_rehearse_with_the_guest_configures_and_verifies_it(tmp_path: Path) -> None:
    """What `make rehearse` does for an admin, as root: the seven phases, configure's GPU-free steps
    on a local systemd guest, verify's service checks; then nothing is left."""
    require_test_host("the rehearsal's guest")
    result = subprocess.run(["make", "--no-print-directory", "rehearse"], cwd=ROOT, capture_output=True,
                            text=True, timeout=1200, env={**os.environ, **_env(tmp_path)}, check=False)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "Traceback" not in out and "root@pam!real=secret" not in out
    for number, phase in enumerate((*PHASES, "configure", "verify"), start=1):
        assert f"[{number}/7] {phase} ok" in out
    assert "ssh ubuntu@10.213.1.2 ok; cloud-init done" in out
    assert "vllm | vLLM 0.32.0 in /opt/vllm/venv" in out and "ok   vllm-health        HTTP 200" in out
    assert "12/12 checks passed" in out and "ok   vllm-model" in out
    # the stand-in model came from the guest's Hub mirror, and the summary says so
    assert "where configure's time went:\n    fetched Qwen/Tiny-Instruct-AWQ: 2.0 MB in " in out
    assert "not run (need the GPU): lspci, gpu-name" in out and "nvidia (needs the GPU: " in out
    assert _left_behind(tmp_path) == []
    _no_guest_left()


def test_sigterm_leaves_nothing_behind(tmp_path: Path) -> None:
    """A rehearsal stopped by SIGTERM (a closed terminal, `timeout`) removes what it made."""
    import signal

    from tests.conftest import aimachine_bin

    proc = subprocess.Popen([aimachine_bin(), "rehearse", VM, "--no-guest"], cwd=ROOT, text=True,
                            env={**os.environ, **_env(tmp_path)}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("[4/7] provision"):
            assert _left_behind(tmp_path), "the scratch directory exists while it runs"
            proc.send_signal(signal.SIGTERM)
            break
    rest = proc.communicate(timeout=120)[0]
    assert proc.returncode == 128 + signal.SIGTERM, rest
    assert "Traceback" not in rest, rest
    assert _left_behind(tmp_path) == []
