"""What the tests that configure the Ubuntu test host share: its catalog (payloads from the local mirror
bound into it), `aimachine configure` against it, commands on it, its reboots."""

from __future__ import annotations

import time
from pathlib import Path

from aimachine.rehearsal.guest import NspawnHost
from aimachine.rehearsal.payloads import HUB_IN_GUEST, STANDIN_MODEL
from tests.conftest import run_aimachine
from tests.harness.fixtures import OLLAMA_VERSION, PAYLOADS_IN_HOST, VLLM_VERSION

NETWORK = "10.213.0.0/30"

CATALOG = """\
proxmox:
  endpoint: https://127.0.0.1:8006
  node: pve
vms:
  - name: vm-llm-test
    vmid: 140
    cores: 2
    memory_mb: 2048
    disk_gb: 10
    storage: local-zfs
    image: local:iso/noble-server-cloudimg-amd64.img
    login:
      user: ubuntu
      ssh_public_key_file: {key}.pub
    gpu:
      pci_address: "0000:01:00"
      vendor_device: "10de:2d04"
      mapping: rtx5060ti
    services:
      ollama:
        version: "{ollama}"
        url: file://{mirror}/ollama/v{{version}}/{{asset}}
{ollama_sha256}      vllm:
        version: "{vllm}"
        python: "3.12"
        index_url: file://{mirror}/simple
        model: {model}
        hf_endpoint: {hub}
    firewall:
      admin_network: {network}
"""


def write_catalog(path: Path, host: NspawnHost, ollama_sha256: str | None = None) -> Path:
    line = f"        sha256: \"{ollama_sha256}\"\n" if ollama_sha256 else ""
    path.write_text(CATALOG.format(key=host.key, mirror=PAYLOADS_IN_HOST, ollama=OLLAMA_VERSION,
                                   vllm=VLLM_VERSION, network=NETWORK, ollama_sha256=line,
                                   model=STANDIN_MODEL, hub=HUB_IN_GUEST))
    return path


def configure(catalog: Path, host: NspawnHost, steps: str):
    env = {"AIMACHINE_SSH_HOST": host.address, "AIMACHINE_SSH_KEY": str(host.key),
           "AIMACHINE_SSH_KNOWN_HOSTS": str(host.known_hosts)}
    return run_aimachine("configure", "vm-llm-test", "--steps", steps, "--catalog", str(catalog), env=env,
                         timeout=1200)


def on_host(host: NspawnHost, command: str, timeout: float = 60) -> str:
    result = host.ssh(command, timeout=timeout)
    assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
    return result.stdout


def boot_id(host: NspawnHost) -> str:
    return on_host(host, "cat /proc/sys/kernel/random/boot_id").strip()


def reboot(host: NspawnHost) -> None:
    before = boot_id(host)
    host.ssh("sudo systemctl reboot", timeout=20)
    for _ in range(120):
        result = host.ssh("cat /proc/sys/kernel/random/boot_id; systemctl is-system-running --wait",
                          timeout=90)
        if result.returncode in (0, 1) and result.stdout.split()[:1] != [before]:
            return
        time.sleep(1)
    raise AssertionError("the test host did not come back from its reboot")
