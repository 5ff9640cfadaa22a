"""A real Ubuntu 24.04 host (systemd as PID 1) in its own network namespace, reachable over SSH: the VM of
the tests and of `aimachine rehearse`.

noble_base.py builds its root once per cache key (/var/tmp/aimachine-nspawn, like the tools' cache);
each guest boots a copy of it (what `--ephemeral` would copy, but kept across the guest's own reboots:
nspawn exits with 133 when the guest reboots, and the guest is started again on the same copy) with
`--network-veth`, so every guest starts pristine, is removed when it stops, and has its own network
stack: a firewall rule or a listener in it never touches the machine it runs on. The host side of the
veth gets NET.host_ip/30, the guest NET.target_ip (bound into the guest, so the cached root is the same
for every net). The guest has no route out: its apt reaches Ubuntu's archive only through the archive
cache (archive_cache.py) on NET.host_ip, which in the tests serves from the cache alone.

Real cloud-init processes the user-data the product renders (a NoCloud seed bound in): it creates the
login user with the key, installs the packages and starts the guest agent. The VM's PCI bus, with the
RTX 5060 Ti on it, is bound at /sys/bus/pci (vm_sysfs.py), so lspci and ubuntu-drivers see the card;
there is no GPU behind it. The tests and the rehearsal use different nets, so both can run at once.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from aimachine.proxmox.cloudinit import cloud_config
from aimachine.reach.ssh import SshTarget, run
from aimachine.rehearsal import archive_cache, noble_base, vm_sysfs


@dataclass(frozen=True)
class Net:
    """A guest's machine name and /30: one per concurrent user of the harness."""

    name: str
    host_ip: str
    target_ip: str

    def network_file(self) -> str:
        return f"[Match]\nName=host0\n\n[Network]\nAddress={self.target_ip}/30\n"

    def apt_proxy(self) -> str:
        return f'Acquire::http::Proxy "http://{self.host_ip}:{archive_cache.PORT}/";\n'


TEST_NET = Net("aimtest", "10.213.0.1", "10.213.0.2")
REHEARSAL_NET = Net("aimrehearse", "10.213.1.1", "10.213.1.2")
ACCEPTANCE_NET = Net("aimaccept", "10.213.4.1", "10.213.4.2")  # the acceptance scenarios' VM
ADMIN = "ubuntu"  # the login user, as on the Ubuntu cloud image
NEEDED = ("systemd-nspawn", "debootstrap", "ip", "ssh", "ssh-keygen", "zstd", "dpkg-deb")


def unavailable_reason() -> str | None:
    """Why the harness cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root (systemd-nspawn and veth need it); CI runs as root"
    missing = [tool for tool in NEEDED if not shutil.which(tool)]
    if missing:
        return (
            f"missing {', '.join(missing)}: apt-get install systemd-container debootstrap "
            "iproute2 openssh-client zstd dpkg (CI installs them)"
        )
    return None


@dataclass
class NspawnHost:
    """A booted container: its address, the SSH key and known_hosts file that reach it."""

    address: str
    user: str
    key: Path
    known_hosts: Path
    archive_misses: list[str] = field(default_factory=list)  # what apt asked for beyond the cache

    def ssh(self, command: str, timeout: float = 60) -> subprocess.CompletedProcess:
        target = SshTarget(self.address, self.user, key_file=str(self.key),
                           known_hosts_file=str(self.known_hosts))
        return run(target, command, timeout=timeout, connect_timeout=5)


REBOOTED = 133  # systemd-nspawn's exit status when the guest asked for a reboot


class _Guest:
    """The running systemd-nspawn, started again (same root, new veth) whenever the guest reboots."""

    def __init__(self, args: list[str], log: Path, net: Net):
        self.args, self.log_path, self.net = args, log, net
        self.log = log.open("w")
        self.stopping = False
        self.proc = self._start()
        self.watcher = threading.Thread(target=self._restart_on_reboot, daemon=True)
        self.watcher.start()

    def _start(self) -> subprocess.Popen:
        proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self.log,
                                stderr=subprocess.STDOUT,
                                start_new_session=True)
        _wire_veth(f"ve-{self.net.name}", proc, self.net)
        return proc

    def _restart_on_reboot(self) -> None:
        while self.proc.wait() == REBOOTED and not self.stopping:
            try:
                self.proc = self._start()
            except RuntimeError:
                return  # it stopped again at once: the SSH wait reports it
            if self.stopping:
                _stop(self.proc)

    def stop(self) -> None:
        self.stopping = True
        _stop(self.proc)
        self.watcher.join(timeout=30)
        self.log.close()


@contextlib.contextmanager
def booted(work: Path, binds: dict[str, str] | None = None, net: Net = TEST_NET,
           hostname: str = "vm-llm-test", cache: archive_cache.ArchiveCache | None = None
           ) -> Iterator[NspawnHost]:
    """Boot a copy of the root in its own network namespace, with the product's user-data for HOSTNAME
    and a fresh key; wait until SSH answers and cloud-init is done; always stop it and remove the copy.

    `binds` maps host paths to read-only paths inside (payloads an air-gapped admin would mirror).
    """
    cache = cache or archive_cache.ArchiveCache()
    base = noble_base.build(cache)
    work.mkdir(parents=True, exist_ok=True)
    key = work / "id_ed25519"
    if not key.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key), "-C", "aimachine-test"],
            check=True,
        )
    # a link left by an earlier run that was killed would be mistaken for this boot's veth
    subprocess.run(["ip", "link", "delete", f"ve-{net.name}"], capture_output=True, check=False)
    (work / "known_hosts").unlink(missing_ok=True)  # a new instance: cloud-init makes new host keys
    (work / "10-host0.network").write_text(net.network_file())
    (work / "apt-proxy.conf").write_text(net.apt_proxy())
    user_data = cloud_config(hostname, ADMIN, Path(f"{key}.pub").read_text().strip())
    seed = noble_base.fresh_seed(work / "seed", user_data, hostname)
    pci = vm_sysfs.write(work / "sysfs")
    root = work / "root"
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run(["cp", "-a", "--reflink=auto", str(base), str(root)], check=True)
    args = [
        "systemd-nspawn", "-b", "-D", str(root), "-M", net.name, "--register=no", "--keep-unit",
        "--console=read-only", "--network-veth",
        f"--bind-ro={work / '10-host0.network'}:/etc/systemd/network/10-host0.network",
        f"--bind-ro={work / 'apt-proxy.conf'}:/etc/apt/apt.conf.d/00aimachine-test-archive-proxy",
        f"--bind-ro={seed}:/var/lib/cloud/seed/nocloud",
        f"--bind-ro={pci}:{noble_base.SYSFS_IN_GUEST}",
    ]
    args += [f"--bind-ro={src}:{dst}" for src, dst in (binds or {}).items()]
    guest = None
    host = NspawnHost(net.target_ip, ADMIN, key, work / "known_hosts", archive_misses=cache.misses)
    with archive_cache.serving(net.host_ip, cache):
        try:
            guest = _Guest(args, work / "nspawn.log", net)
            _wait_for_ssh(host, guest.proc, work / "nspawn.log")
            yield host
        finally:
            if guest:
                guest.stop()
            shutil.rmtree(root, ignore_errors=True)


def serve_mirror(host: NspawnHost, root: str, port: int, rates: str = "") -> str:
    """Serve ROOT (a payload mirror bound into the guest, with its hub_mirror.py) on 127.0.0.1:PORT inside
    the guest, as an enabled unit (it is back after the guest reboots); RATES throttles it
    (`hub=BYTES_PER_S,files=BYTES_PER_S`). Returns the request log's path in the guest."""
    unit, log = f"aimachine-test-mirror-{port}", f"/var/log/aimachine-test-mirror-{port}.jsonl"
    text = (f"[Unit]\nDescription=payload mirror {root} on :{port}\n[Service]\n"
            f"ExecStart=/usr/bin/python3 {root}/hub_mirror.py {root} --port {port} --log {log}"
            + (f" --rates {rates}" if rates else "") + "\n[Install]\nWantedBy=multi-user.target\n")
    ready = ("import time, urllib.request\nfor _ in range(100):\n    try:\n"
             f"        urllib.request.urlopen('http://127.0.0.1:{port}/hub_mirror.py'); break\n"
             "    except OSError: time.sleep(0.1)\nelse: raise SystemExit('no answer')")
    path = f"/etc/systemd/system/{unit}.service"
    done = host.ssh(f"printf '%s' {shlex.quote(text)} | sudo tee {path} >/dev/null"
                    f" && sudo systemctl daemon-reload && sudo systemctl enable --now {unit} 2>&1"
                    f" && python3 -c {shlex.quote(ready)}")
    if done.returncode != 0:
        raise RuntimeError(f"the guest's mirror on :{port} did not start: {done.stdout}{done.stderr}")
    return log


def _wire_veth(link: str, proc: subprocess.Popen, net: Net) -> None:
    for _ in range(100):
        if subprocess.run(["ip", "link", "show", link], capture_output=True, check=False).returncode == 0:
            break
        if proc.poll() is not None:
            raise RuntimeError(f"systemd-nspawn exited with {proc.returncode} before its veth appeared")
        time.sleep(0.1)
    subprocess.run(["ip", "addr", "replace", f"{net.host_ip}/30", "dev", link], check=True)
    subprocess.run(["ip", "link", "set", link, "up"], check=True)


def _wait_for_ssh(host: NspawnHost, proc: subprocess.Popen, log: Path, deadline_s: float = 180) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the test host stopped ({proc.returncode}): {log.read_text()[-2000:]}")
        if host.ssh("true", timeout=10).returncode == 0:
            # the user exists once cloud-init's first stages ran; its packages and runcmd come later
            host.ssh("cloud-init status --wait >/dev/null; systemctl is-system-running --wait", timeout=600)
            return
        time.sleep(0.3)
    raise RuntimeError(f"no SSH to the test host within {deadline_s:.0f} s: {log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM makes nspawn power the container off cleanly."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
