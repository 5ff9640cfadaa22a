"""The configuration steps that need no GPU (update, base, security, models, vllm, ollama) applied for real
over SSH, through `aimachine configure`, to an Ubuntu 24.04 systemd host from Ubuntu's archive, booted by
real cloud-init, in its own network namespace: the first-boot update moves the image from the release
pocket to noble-updates (the kernel metapackage included; Ubuntu's own postinst asks for the reboot) and
reboots the host for it; the second run and a run after another reboot change nothing.

Heavy payloads come from a local mirror, the way an air-gapped admin serves them: the catalog's
vllm index_url and ollama url point at `file://` paths bind-mounted into the host. The stand-ins
(a tiny `vllm` wheel whose `vllm serve` answers /health, an `ollama` that serves and lists nothing)
prove the plumbing: catalog knobs, checksums, users, venv, units, sandboxing, listeners, firewall,
sshd, idempotence. They do NOT prove GPU use, CUDA, real models or inference: the driver, CUDA and
GPU steps run through pyinfra's @fake connector (tests/deploy) and on the real VM (verify).
"""

from __future__ import annotations

import pytest

from aimachine.guest.parsers import parse_ufw_status
from aimachine.rehearsal.guest import NspawnHost
from tests.harness.fixtures import OLLAMA_VERSION
from tests.harness.noble_host import NETWORK, boot_id, on_host, reboot, write_catalog
from tests.harness.noble_host import configure as configure_steps

pytestmark = pytest.mark.nspawn
STEPS = "update,base,security,models,vllm,ollama"


def configure(catalog, host):
    return configure_steps(catalog, host, STEPS)

RELEASE_KERNEL = "6.8.0-31.31"  # linux-image-virtual in noble's release pocket

def started_at(host: NspawnHost, unit: str, what: str) -> int:
    return int(on_host(host, f"systemctl show -p {what} --value {unit}").strip())


def test_configure_converges_in_one_run_and_changes_nothing_on_the_second(nspawn_host, tmp_path):
    host = nspawn_host
    assert on_host(host, "dpkg-query -W -f='${Version}' linux-image-virtual") == RELEASE_KERNEL
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
    updated = on_host(host, "dpkg-query -W -f='${Version}' linux-image-virtual")
    assert host.ssh(f"dpkg --compare-versions {updated} gt {RELEASE_KERNEL}").returncode == 0, updated
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
