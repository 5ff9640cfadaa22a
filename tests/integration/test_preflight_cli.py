"""`aimachine preflight` through the real CLI against the Proxmox VE simulator."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from aimachine.pvesim.state import PVE8_PRIVILEGES
from tests.conftest import ROOT, run_aimachine
from tests.pve_sim.cli_env import cli_env, least_privileges, write_catalog
from tests.pve_sim.fixture import TOKEN, healthy_state

SECRET = TOKEN.split("=", 1)[1]
NODE = "android-19"


def _node(state: dict) -> dict:
    return state["nodes"][NODE]


def _gpu_held(s: dict) -> None:
    _node(s)["vms"][120]["status"] = "running"


def _iommu_off(s: dict) -> None:
    for dev in _node(s)["pci"]:
        dev["iommugroup"] = -1


def _gpu_missing(s: dict) -> None:
    _node(s)["pci"] = [d for d in _node(s)["pci"] if not d["id"].startswith("0000:01:00")]


def _wrong_device(s: dict) -> None:
    _node(s)["pci"][1]["device"] = "0x2204"


def _vmid_taken(s: dict) -> None:
    _node(s)["vms"][140] = {"name": "database", "status": "running", "config": {"cores": 4}}


def _storage_small(s: dict) -> None:
    _node(s)["storage"]["local-zfs"]["avail"] = 100 * 1024**3


def _image_missing(s: dict) -> None:
    _node(s)["storage"]["local"]["volumes"] = []


def _node_offline(s: dict) -> None:
    _node(s)["status"] = "offline"


def _bad_token(s: dict) -> None:
    s["tokens"] = ["root@pam!aimachine=11111111-1111-4111-8111-111111111111"]


def _group_shared(s: dict) -> None:
    _node(s)["pci"][3]["iommugroup"] = 14


FAILURES: list[tuple[str, Callable[[dict], None], str, str]] = [
    ("gpu held by a running VM", _gpu_held, "gpu-free", "stop VM 120 (`qm stop 120`)"),
    ("iommu off", _iommu_off, "iommu", "intel_iommu=on iommu=pt"),
    ("gpu not found", _gpu_missing, "gpu", "set gpu.pci_address"),
    ("wrong vendor:device", _wrong_device, "gpu", "fix gpu.pci_address or gpu.vendor_device"),
    ("vmid owned by another VM", _vmid_taken, "vmid", "choose another vmid for vm-llm-aimachine"),
    ("storage too small", _storage_small, "storage", "free 400 GiB on local-zfs"),
    ("image missing", _image_missing, "image", "noble-server-cloudimg-amd64.qcow2"),
    ("node offline", _node_offline, "node", "bring android-19 back online"),
    ("bad token", _bad_token, "api", "check PROXMOX_VE_API_TOKEN"),
    ("iommu group shared", _group_shared, "iommu", "its own IOMMU group"),
]


def _preflight(sim, tmp_path: Path, *args: str):
    catalog = write_catalog(tmp_path)
    result = run_aimachine("preflight", "vm-llm-aimachine", "--catalog", str(catalog), *args,
                           env=cli_env(sim, tmp_path))
    assert SECRET not in result.stdout + result.stderr
    return result


def test_healthy_host_passes_and_changes_nothing(pve_sim, tmp_path: Path) -> None:
    sim = pve_sim(healthy_state())
    result = _preflight(sim, tmp_path, "-v")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [ln for ln in result.stdout.splitlines() if ln[:4] in ("ok  ", "warn", "FAIL")]
    checks = [ln.split()[1].rstrip(":") for ln in lines]
    assert checks == ["api", "privileges", "node", "vmid", "gpu", "iommu", "gpu-free", "mapping", "storage",
                      "snippets", "image", "resources", "ssh-agent", "gpu-state"]
    assert not any(ln.startswith("FAIL") for ln in lines)
    assert "ok   gpu-state: 0000:01:00.0 (10de:2d04) answers on the bus, power state D3hot" in result.stdout
    assert "warn gpu-free: not in use now, but stopped VM(s) 120 'gaming'" in result.stdout
    held = len(least_privileges(new_mapping=False))  # the mapping exists: no Mapping.Modify needed
    assert f"ok   privileges: {TOKEN.split('=')[0]} holds the {held} privileges" \
        in result.stdout
    assert sim.changes() == []


def test_a_token_without_vm_monitor_fails_naming_it_and_the_grant(pve_sim, tmp_path: Path) -> None:
    state = healthy_state()
    state["tokens"] = [{"token": TOKEN, "privs": [p for p in PVE8_PRIVILEGES if p != "VM.Monitor"]}]
    sim = pve_sim(state)
    result = _preflight(sim, tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "FAIL privileges: token root@pam!aimachine lacks 1 privilege: VM.Monitor on /vms/140" \
        in result.stdout
    assert f'pveum role add AImachine --privs "{" ".join(least_privileges(new_mapping=False))}"' \
        in result.stdout
    assert "pveum acl modify / --users 'root@pam' --tokens 'root@pam!aimachine' --roles AImachine" \
        in result.stdout
    assert "1 check failed (privileges); nothing was changed" in result.stderr
    assert sim.changes() == []


def test_unreadable_permissions_warn_and_the_rest_still_runs(pve_sim, tmp_path: Path) -> None:
    state = healthy_state()
    state["faults"] = [{"method": "GET", "path": "/access/permissions", "status": 500,
                        "message": "internal error", "times": 3}]  # every attempt of the bounded retry
    sim = pve_sim(state)
    result = _preflight(sim, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warn privileges: cannot read the privileges of root@pam!aimachine (internal error)" \
        in result.stdout
    assert "ok   resources:" in result.stdout


@pytest.mark.parametrize(("case", "breaks", "check", "remedy"), FAILURES, ids=[f[0] for f in FAILURES])
def test_each_broken_host_fails_with_its_remedy(pve_sim, tmp_path: Path, case, breaks, check, remedy) -> None:
    state = healthy_state()
    breaks(state)
    sim = pve_sim(state)
    result = _preflight(sim, tmp_path, "-v")
    assert result.returncode == 3, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert f"FAIL {check}:" in result.stdout
    assert remedy in out
    assert "Traceback" not in out
    assert sim.changes() == [], "preflight must be read-only"


def test_missing_credentials_are_named(tmp_path: Path) -> None:
    catalog = write_catalog(tmp_path)
    result = run_aimachine("preflight", "vm-llm-aimachine", "--catalog", str(catalog),
                           env={"PROXMOX_VE_API_TOKEN": "not-a-token"})
    assert result.returncode == 3
    assert "PROXMOX_VE_ENDPOINT is not set" in result.stderr
    assert "PROXMOX_VE_API_TOKEN is not of the form" in result.stderr
    assert "not-a-token" not in result.stderr


def test_a_card_stuck_since_its_last_vm_stop_is_warned_of_read_only(pve_sim, tmp_path: Path) -> None:
    """An RTX 50 card that did not reset (open-gpu-kernel-modules#853) answers config reads with all-ones,
    as a device the kernel reports `not ready 65535ms after FLR; giving up` for does: preflight reads it
    over the node's SSH, changes nothing, and says what to do before a start hangs."""
    from aimachine.catalog.schema import load_catalog
    from aimachine.rehearsal import node_sysfs

    sim = pve_sim(healthy_state())
    node_sysfs.write(tmp_path / "node-sysfs", load_catalog(ROOT / "catalog.yml").vms[0], node_sysfs.STUCK)
    result = _preflight(sim, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("warn gpu-state: 0000:01:00.0 does not answer on the bus (config space reads ffff:ffff, power "
            "D3cold): the card did not reset after its last VM stop (NVIDIA/open-gpu-kernel-modules#853)"
            in result.stdout)
    assert "remedy: power-cycle the Proxmox host" in result.stdout
    commands = (tmp_path / "ssh.log").read_text()
    assert "cat power_state && od -An -tx1 -N4 config" in commands and "echo" not in commands
    assert sim.changes() == []
