"""The distro-neutral configuration steps (update, security, vllm, ollama) applied for real over SSH, to a
Debian bookworm systemd host in its own network namespace, through `aimachine configure`: the first-boot
update brings a newer "kernel" from a local archive and reboots the host for it; the second run and a
run after another reboot change nothing.

Heavy payloads come from a local mirror, the way an air-gapped admin serves them: the catalog's
vllm index_url and ollama url point at `file://` paths bind-mounted into the host. The stand-ins
(a tiny `vllm` wheel whose `vllm serve` answers /health, an `ollama` that serves and lists nothing)
prove the plumbing: catalog knobs, checksums, users, venv, units, sandboxing, listeners, firewall,
sshd, idempotence. They do NOT prove GPU use, CUDA, real models or inference: the driver, CUDA and
GPU steps run through pyinfra's @fake connector (tests/deploy) and on the real VM (verify).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aimachine.guest.parsers import parse_ufw_status
from aimachine.rehearsal.guest import NspawnHost
from aimachine.rehearsal.payloads import HUB_IN_GUEST, STANDIN_MODEL
from tests.conftest import run_aimachine
from tests.harness.fixtures import OLLAMA_VERSION, PAYLOADS_IN_HOST, VLLM_VERSION

pytestmark = pytest.mark.nspawn
STEPS = "update,security,models,vllm,ollama"
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
        python: "3.11"
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


def configure(catalog: Path, host: NspawnHost):
    env = {"AIMACHINE_SSH_HOST": host.address, "AIMACHINE_SSH_KEY": str(host.key),
           "AIMACHINE_SSH_KNOWN_HOSTS": str(host.known_hosts)}
    return run_aimachine("configure", "vm-llm-test", "--steps", STEPS, "--catalog", str(catalog), env=env,
                         timeout=600)


def on_host(host: NspawnHost, command: str) -> str:
    result = host.ssh(command)
    assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
    return result.stdout


def boot_id(host: NspawnHost) -> str:
    return on_host(host, "cat /proc/sys/kernel/random/boot_id").strip()


def image_older_than_the_archive(host: NspawnHost) -> None:
    """The cloud image's kernel packages installed, the archive (a local repository) one ABI ahead."""
    kernel = f"{PAYLOADS_IN_HOST}/kernel"
    on_host(host, f"sudo sh -c 'dpkg -i {kernel}/installed/*.deb' >/dev/null && echo 'deb [trusted=yes] "
                  f"file:{kernel}/archive ./' | sudo tee /etc/apt/sources.list.d/kernel-archive.list "
                  ">/dev/null")


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


def started_at(host: NspawnHost, unit: str, what: str) -> int:
    return int(on_host(host, f"systemctl show -p {what} --value {unit}").strip())


def test_configure_converges_in_one_run_and_changes_nothing_on_the_second(nspawn_host, tmp_path):
    host = nspawn_host
    image_older_than_the_archive(host)
    first_boot = boot_id(host)
    # A wrong checksum stops the run at the download with exit 6; the host stays up, nothing unpacked.
    bad = configure(write_catalog(tmp_path / "bad.yml", host, ollama_sha256="ab" * 32), host)
    assert bad.returncode == 6, bad.stdout + bad.stderr
    assert "failed at: ollama | Download Ollama" in bad.stderr
    assert "remedy: fix the cause shown above" in bad.stderr
    assert host.ssh("test ! -e /usr/local/bin/ollama").returncode == 0
    # ...after the first-boot update: the newer kernel is in, the host rebooted for it, and only once
    assert "update | Reboot into the updated kernel" in bad.stdout
    assert boot_id(host) != first_boot
    assert on_host(host, "dpkg-query -W -f='${Version}' linux-generic") == "6.8.0-90.1"
    assert host.ssh("test ! -e /var/run/reboot-required").returncode == 0

    # The real run (checksum from the release's sha256sum.txt) resumes and converges in one go.
    catalog = write_catalog(tmp_path / "catalog.yml", host)
    updated_boot = boot_id(host)
    first = configure(catalog, host)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "ollama | Unpack Ollama" in first.stdout and "First-boot update" not in first.stdout
    assert boot_id(host) == updated_boot  # the update and its reboot are done: never again
    second = configure(catalog, host)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "configure vm-llm-test: 0 operations changed" in second.stdout
    # a reboot of the converged host: the services come back, Ollama only once vLLM serves, and a
    # run after it still changes nothing
    reboot(host)
    assert started_at(host, "ollama", "ExecMainStartTimestampMonotonic") >= started_at(
        host, "vllm", "ActiveEnterTimestampMonotonic")
    after_reboot = configure(catalog, host)
    assert after_reboot.returncode == 0, after_reboot.stdout + after_reboot.stderr
    assert "configure vm-llm-test: 0 operations changed" in after_reboot.stdout

    # units active and enabled, their processes not root
    for unit, user in (("vllm", "vllm"), ("ollama", "ollama")):
        assert on_host(host, f"systemctl is-active {unit}").strip() == "active"
        assert on_host(host, f"systemctl is-enabled {unit}").strip() == "enabled"
        pid = on_host(host, f"systemctl show -p MainPID --value {unit}").strip()
        assert on_host(host, f"ps -o user= -p {pid}").strip() == user
    assert "render" in on_host(host, "id -nG ollama").split()
    # listeners: the model servers on 127.0.0.1 only
    listeners = on_host(host, "ss -ltnH").split()
    assert "127.0.0.1:8000" in listeners and "127.0.0.1:11434" in listeners
    assert not [a for a in listeners if a.endswith((":8000", ":11434")) and not a.startswith("127.0.0.1:")]
    assert on_host(host, "curl -fsS -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/health") == "200"
    assert on_host(host, "/usr/local/bin/ollama --version").strip() == f"ollama version is {OLLAMA_VERSION}"
    assert on_host(host, "OLLAMA_HOST=127.0.0.1:11434 /usr/local/bin/ollama list").startswith("NAME")
    drop_in = on_host(host, "systemctl show -p Environment --value ollama")
    assert "OLLAMA_MAX_LOADED_MODELS=1" in drop_in and "OLLAMA_KEEP_ALIVE=5m" in drop_in
    # sshd: keys only, no root login
    sshd = on_host(host, "sudo sshd -T").splitlines()
    assert {"passwordauthentication no", "permitrootlogin no", "kbdinteractiveauthentication no"} <= set(sshd)
    # ufw: deny incoming; SSH only from the admin network; nothing else open
    status = parse_ufw_status(on_host(host, "sudo ufw status verbose"))
    assert status.active and status.incoming == "deny"
    assert status.rules == [f"22/tcp ALLOW IN {NETWORK}"]
