"""What the acceptance steps share: the backend (sim or lab), the catalog, the host, the last run.

sim (default): the Proxmox VE simulator as the host, the real Terraform and bpg/proxmox provider
applying the catalog to it, a stand-in ssh for the Proxmox node, and the nspawn test host (a real Ubuntu 24.04 systemd machine in
its own network namespace, booted by real cloud-init) as the VM, configured for real with the distro-neutral steps and the
stand-in vLLM/Ollama payloads. lab (AIMACHINE_LAB=1 with the PROXMOX_VE_* variables): the real host
and VM of the shipped catalog.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from aimachine.rehearsal import noble_base
from aimachine.rehearsal.payloads import mirror_settings
from tests.conftest import LAB_ENV, ROOT, run_aimachine
from tests.harness.catalog import build_catalog
from tests.pve_sim.cli_env import cli_env
from tests.pve_sim.fixture import IMPORT_IMAGE, TOKEN, PveSim, healthy_state

LAB = bool(LAB_ENV.get("PROXMOX_VE_ENDPOINT"))
VM_NAME = "vm-llm-aimachine"
# what the nspawn test host can take: the GPU-free steps (driver, CUDA: @fake and lab only)
SIM_STEPS = "base,security,models,vllm,ollama"
SECRETS = [TOKEN.split("=", 1)[1]] + [t.split("=", 1)[-1] for t in [LAB_ENV.get("PROXMOX_VE_API_TOKEN")] if t]


def needs_lab(what: str) -> None:
    """Skip a step that only real hardware can prove (in sim mode)."""
    if not LAB:
        pytest.skip(f"needs the lab: {what}")


@dataclass
class World:
    tmp: Path
    catalog: Path | None = None
    sim: PveSim | None = None
    host: Any = None  # aimachine.rehearsal.guest.NspawnHost when the VM is the test host
    runs: list[subprocess.CompletedProcess] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def last(self) -> subprocess.CompletedProcess:
        return self.runs[-1]

    def env(self) -> dict[str, str]:
        if LAB:
            return {**LAB_ENV, "AIMACHINE_STATE_DIR": str(ROOT / ".aimachine")}
        assert self.sim is not None, "the scenario has no Proxmox host yet"
        env = cli_env(self.sim, self.tmp)
        if self.host is not None:
            env["FAKE_SSH_PASSTHROUGH"] = self.host.address  # the VM is real; only the node is stood in
        return env

    def aimachine(self, *args: str, timeout: float = 1200) -> subprocess.CompletedProcess:
        catalog = ["--catalog", str(self.catalog)] if self.catalog else []
        result = run_aimachine(*args, *catalog, env=self.env(), timeout=timeout)
        out = result.stdout + result.stderr
        assert "Traceback" not in out, out
        for secret in SECRETS:
            assert secret not in out, "the API token leaked into the output"
        self.runs.append(result)
        return result

    def deploy(self, *extra: str) -> subprocess.CompletedProcess:
        """`aimachine deploy` as the scenario's backend allows: everything in the lab; in sim mode the
        GPU-free configure steps on the test host, or up to provision when there is no test host."""
        if LAB:
            return self.aimachine("deploy", VM_NAME, *extra)
        if self.host is None:
            return self.aimachine("deploy", VM_NAME, "--until", "provision", *extra)
        return self.aimachine("deploy", VM_NAME, "--until", "configure", "--steps", SIM_STEPS,
                              *extra)


def host_state(agent_address: str, gpu_holder_running: bool = False) -> dict[str, Any]:
    """The simulated Proxmox host: the shipped catalog's node, its GPU, VM 120 "gaming" holding
    the GPU's mapping (stopped, unless `gpu_holder_running`); new VMs report `agent_address`."""
    state = healthy_state()
    state["nodes"]["android-19"]["vms"][120]["status"] = "running" if gpu_holder_running else "stopped"
    for iface in state["new_vms"]["agent"]["interfaces"]:
        for ip in iface["ip-addresses"]:
            if ip["ip-address"] == "198.51.100.140":
                ip["ip-address"] = agent_address
    return state


def write_sim_catalog(tmp: Path, key: Path, admin_network: str = "192.168.0.0/24") -> Path:
    """The shipped catalog, with the test's SSH key, the payload mirror inside the test host (how an
    air-gapped admin serves vLLM and Ollama), no model to pull, and the test network as admin network.
    Everything Proxmox sees (id, name, cores, memory, disk, GPU) stays as shipped; the image is the same
    cloud image in `import` content, which the provider imports through the API (the shipped `iso` one
    it imports over SSH to the node, which the simulator is not)."""
    return build_catalog(tmp, vm={
        "login.ssh_public_key_file": f"{key}.pub",
        **mirror_settings(noble_base.PYTHON),  # the test host is Ubuntu 24.04 (noble)
        "firewall.admin_network": admin_network,
        "image": IMPORT_IMAGE,
    })


def throwaway_key(tmp: Path) -> Path:
    """A throw-away key pair for scenarios whose VM is never logged into."""
    key = tmp / "id_test"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def unit_starts(host: Any) -> dict[str, str]:
    """Main PID and start time of each service: a restart changes both."""
    out = host.ssh("for u in vllm ollama; do echo $u $(systemctl show -p MainPID -p ActiveEnterTimestamp "
                   "--value $u | paste -sd ' '); done")
    assert out.returncode == 0, out.stderr
    return dict(line.split(" ", 1) for line in out.stdout.splitlines() if line.strip())
