"""The `pve_sim` pytest fixture: start the simulator on a state dict, yield a handle, stop it."""

from __future__ import annotations

import copy
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3
import yaml

TOKEN = "root@pam!aimachine=00000000-0000-4000-8000-000000000001"
# A cloud image in `import` content (PVE >= 8.4): the provider imports it through the API alone.
IMPORT_IMAGE = "local:import/noble-server-cloudimg-amd64.qcow2"
ROOT = Path(__file__).resolve().parents[2]


def healthy_state() -> dict[str, Any]:
    """A host ready for the shipped catalog's vm-llm-aimachine (node android-19, VM id 140 free)."""
    return copy.deepcopy({
        "tokens": [TOKEN],
        "nodes": {"android-19": {
            "status": "online", "maxcpu": 64, "maxmem": 103079215104,
            "pci": [
                {"id": "0000:00:01.0", "class": "0x060400", "vendor": "0x8086", "device": "0xa70d",
                 "iommugroup": 14},
                {"id": "0000:01:00.0", "class": "0x030000", "vendor": "0x10de", "device": "0x2d04",
                 "subsystem_vendor": "0x19da", "subsystem_device": "0x5300", "iommugroup": 14},
                {"id": "0000:01:00.1", "class": "0x040300", "vendor": "0x10de", "device": "0x22eb",
                 "subsystem_vendor": "0x19da", "subsystem_device": "0x5300", "iommugroup": 14},
                {"id": "0000:02:00.0", "class": "0x010802", "vendor": "0x144d", "device": "0xa808",
                 "iommugroup": 15},
            ],
            "storage": {
                "local": {"type": "dir", "content": "iso,vztmpl,snippets,import", "path": "/var/lib/vz",
                          "total": 100000000000, "avail": 60000000000,
                          "volumes": ["local:iso/noble-server-cloudimg-amd64.img", IMPORT_IMAGE]},
                "local-zfs": {"type": "zfspool", "content": "images,rootdir", "total": 2000000000000,
                              "avail": 1500000000000},
            },
            "vms": {120: {"name": "gaming", "status": "stopped",
                          "config": {"hostpci0": "mapping=rtx5060ti,pcie=1", "cores": 8, "memory": 16384}}},
        }},
        "mappings": {"pci": {"rtx5060ti": {"map": [
            "node=android-19,path=0000:01:00,id=10de:2d04,iommugroup=14,subsystem-id=19da:5300"],
            "description": "RTX 5060 Ti, made by hand"}}},
        "new_vms": {"agent": {"interfaces": [
            {"name": "lo", "ip-addresses": [{"ip-address": "127.0.0.1", "ip-address-type": "ipv4"}]},
            {"name": "eth0", "ip-addresses": [{"ip-address": "198.51.100.140", "ip-address-type": "ipv4"},
                                              {"ip-address": "fe80::1", "ip-address-type": "ipv6"}]}]}},
    })


@dataclass
class PveSim:
    url: str
    token: str
    state_file: Path
    proc: subprocess.Popen

    def state(self) -> dict[str, Any]:
        """The simulator's world now (it rewrites its state file after every change)."""
        return yaml.safe_load(self.state_file.read_text())

    def changes(self) -> list[dict]:
        """Every non-GET request the simulator received, in order."""
        return self.state().get("journal") or []

    def vms(self, node: str = "android-19") -> dict[int, dict]:
        return {int(k): v for k, v in (self.state()["nodes"][node].get("vms") or {}).items()}

    def call(self, method: str, path: str, **data: Any) -> requests.Response:
        """One raw API request with the test token (the certificate is self-signed)."""
        kw = {"params": data} if method in ("GET", "DELETE") else {"data": data}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            return requests.request(method, f"{self.url}/api2/json{path}", verify=False, timeout=10,
                                    headers={"Authorization": f"PVEAPIToken={self.token}"}, **kw)

    def edit(self, change: Callable[[dict[str, Any]], Any]) -> None:
        """Change the world behind the API (what an admin does on the node): stop, edit, restart on
        the same port."""
        stop_sim(self)
        state = self.state()
        change(state)
        self.state_file.write_text(yaml.safe_dump(state, sort_keys=False))
        self.proc = _launch(self.state_file, int(self.url.rsplit(":", 1)[1]))

    def env(self) -> dict[str, str]:
        return {"PROXMOX_VE_ENDPOINT": self.url, "PROXMOX_VE_API_TOKEN": self.token,
                "PROXMOX_VE_INSECURE": "true"}


def _launch(state_file: Path, port: int = 0) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "aimachine.pvesim", "--state", str(state_file),
                             "--port", str(port)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("https://127.0.0.1:"):
        proc.kill()
        raise RuntimeError(f"simulator did not start (first line: {url!r})")
    proc.url = url  # type: ignore[attr-defined]
    return proc


def start_sim(state: dict[str, Any], workdir: Path) -> PveSim:
    state_file = workdir / "pve-state.yml"
    state_file.write_text(yaml.safe_dump(state, sort_keys=False))
    proc = _launch(state_file)
    return PveSim(proc.url, TOKEN, state_file, proc)  # type: ignore[attr-defined]  # always TOKEN


def stop_sim(sim: PveSim) -> None:
    sim.proc.terminate()
    try:
        sim.proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        sim.proc.kill()


@pytest.fixture
def pve_sim(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], PveSim]]:
    """Call with a state dict (e.g. healthy_state() edited) to get a running simulator."""
    started: list[PveSim] = []

    def start(state: dict[str, Any]) -> PveSim:
        sim = start_sim(state, tmp_path)
        started.append(sim)
        return sim

    yield start
    for sim in started:
        stop_sim(sim)
