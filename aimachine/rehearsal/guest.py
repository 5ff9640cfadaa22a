"""A real Debian host (systemd as PID 1) in its own network namespace, reachable over SSH: the VM of
the tests and of `aimachine rehearse`.

debootstrap builds one base per cache key (suite, mirror, packages) and keeps it between runs
(/var/tmp/aimachine-nspawn, like the tools' cache); each guest boots a copy of it (what `--ephemeral`
would copy, but kept across the guest's own reboots: nspawn exits with 133 when the guest reboots, and
the guest is started again on the same copy) with `--network-veth`, so every guest starts pristine, is
removed when it stops, and has its own network stack: a firewall rule or a listener in it never touches
the machine it runs on. The host side of the
veth gets NET.host_ip/30, the guest NET.target_ip (bound into the guest, so the cached base is the same
for every net); the guest reaches the Debian mirror through a masquerade rule in our own nft table,
removed on stop. The tests and the rehearsal use different nets, so both can run at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from aimachine.reach.ssh import SshTarget, run

SUITE = "bookworm"
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "openssh-server",
    "python3",
    "sudo",
    "dbus",
    "iproute2",
    "ca-certificates",
    # the host resolves its own name, as Ubuntu's systemd-resolved does (sudo looks it up on every call:
    # without it each sudo waits for DNS and says "unable to resolve host")
    "libnss-myhostname",
)


@dataclass(frozen=True)
class Net:
    """A guest's machine name, /30 and nft table: one per concurrent user of the harness."""

    name: str
    host_ip: str
    target_ip: str
    nft_table: str

    def network_file(self) -> str:
        return f"[Match]\nName=host0\n\n[Network]\nAddress={self.target_ip}/30\nGateway={self.host_ip}\n"


TEST_NET = Net("aimtest", "10.213.0.1", "10.213.0.2", "aimachine_test_nat")
REHEARSAL_NET = Net("aimrehearse", "10.213.1.1", "10.213.1.2", "aimachine_rehearse_nat")
HOST_IP, TARGET_IP = TEST_NET.host_ip, TEST_NET.target_ip
CACHE_ENV = "AIMACHINE_NSPAWN_CACHE"
ADMIN = "ubuntu"  # the login user, as on the Ubuntu cloud image
NEEDED = ("systemd-nspawn", "debootstrap", "nft", "ip", "ssh", "ssh-keygen", "zstd")


def unavailable_reason() -> str | None:
    """Why the harness cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root (systemd-nspawn, veth and nft need it); CI runs as root"
    missing = [tool for tool in NEEDED if not shutil.which(tool)]
    if missing:
        return (
            f"missing {', '.join(missing)}: apt-get install systemd-container debootstrap "
            "nftables iproute2 openssh-client zstd (CI installs them)"
        )
    return None


def host_mirror() -> str:
    """The Debian mirror this machine already uses, so debootstrap needs no other network."""
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        with contextlib.suppress(OSError):
            found = re.search(r"https?://\S+/debian/?(?=\s|$)", path.read_text(), re.MULTILINE)
            if found:
                return found.group(0)
    return "http://deb.debian.org/debian"


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV, "/var/tmp/aimachine-nspawn"))


def build_base(mirror: str | None = None) -> Path:
    """debootstrap the base once per cache key; later calls return the cached root."""
    mirror = mirror or host_mirror()
    key = hashlib.sha256(f"{SUITE} {mirror} {','.join(PACKAGES)}".encode()).hexdigest()[:12]
    root = cache_dir() / f"{SUITE}-{key}"
    if (root / ".complete").exists():
        if not (root / f"home/{ADMIN}").exists():
            _add_admin(root)
        return root
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    log = cache_dir() / f"{SUITE}-{key}.log"
    with log.open("w") as out:
        done = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(root), mirror],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"debootstrap failed ({done.returncode}); see {log}")
    net = root / "etc/systemd/network"
    net.mkdir(parents=True, exist_ok=True)
    (net / "10-host0.network").write_text(TEST_NET.network_file())  # each boot binds its own over it
    subprocess.run(
        ["systemctl", f"--root={root}", "enable", "systemd-networkd"], capture_output=True, check=False
    )
    for stale in ("var/lib/apt/lists", "var/cache/apt/archives"):
        for item in (root / stale).glob("*"):
            if item.is_file():
                item.unlink()
    _add_admin(root)
    (root / ".complete").touch()
    return root


def _add_admin(root: Path) -> None:
    """The login user the deploy uses (as on the cloud image): sudo without password, key from a bind."""
    subprocess.run(["chroot", str(root), "useradd", "-m", "-s", "/bin/bash", ADMIN], check=True)
    (root / "etc/sudoers.d/90-admin").write_text(f"{ADMIN} ALL=(ALL) NOPASSWD:ALL\n")
    (root / "etc/sudoers.d/90-admin").chmod(0o440)
    subprocess.run(
        ["chroot", str(root), "install", "-d", "-m", "700", "-o", ADMIN, "-g", ADMIN, f"/home/{ADMIN}/.ssh"],
        check=True,
    )


@dataclass
class NspawnHost:
    """A booted container: its address, the SSH key and known_hosts file that reach it."""

    address: str
    user: str
    key: Path
    known_hosts: Path

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
def booted(work: Path, binds: dict[str, str] | None = None, net: Net = TEST_NET) -> Iterator[NspawnHost]:
    """Boot a copy of the base in its own network namespace; always stop it and remove the copy.

    `binds` maps host paths to read-only paths inside (payloads an air-gapped admin would mirror).
    """
    name = net.name
    base = build_base()
    work.mkdir(parents=True, exist_ok=True)
    key = work / "id_ed25519"
    if not key.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key), "-C", "aimachine-test"],
            check=True,
        )
    # a link left by an earlier run that was killed would be mistaken for this boot's veth
    subprocess.run(["ip", "link", "delete", f"ve-{name}"], capture_output=True, check=False)
    network = work / "10-host0.network"
    network.write_text(net.network_file())
    root = work / "root"
    shutil.rmtree(root, ignore_errors=True)
    subprocess.run(["cp", "-a", "--reflink=auto", str(base), str(root)], check=True)
    args = [
        "systemd-nspawn",
        "-b",
        "-D",
        str(root),
        "-M",
        name,
        "--register=no",
        "--keep-unit",
        "--console=passive",
        "--resolv-conf=copy-host",
        "--network-veth",
        f"--bind-ro={key}.pub:/home/{ADMIN}/.ssh/authorized_keys",
        f"--bind-ro={network}:/etc/systemd/network/10-host0.network",
    ]
    args += [f"--bind-ro={src}:{dst}" for src, dst in (binds or {}).items()]
    forward_before = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
    guest = None
    try:
        guest = _Guest(args, work / "nspawn.log", net)
        host = NspawnHost(net.target_ip, ADMIN, key, work / "known_hosts")
        _wait_for_ssh(host, guest.proc, work / "nspawn.log")
        yield host
    finally:
        if guest:
            guest.stop()
        subprocess.run(["nft", "delete", "table", "ip", net.nft_table], capture_output=True, check=False)
        Path("/proc/sys/net/ipv4/ip_forward").write_text(forward_before)
        shutil.rmtree(root, ignore_errors=True)


def stand_in_cloud_init(host: NspawnHost, hostname: str | None = None) -> None:
    """What cloud-init does on the real image, for a guest without it: the host name from the snippet
    (when given), and a `cloud-init` that says "status: done" (the boot phase waits for it)."""
    script = "/usr/local/bin/cloud-init"
    rename = f"sudo hostname {hostname} && " if hostname else ""
    done = host.ssh(f"{rename}printf '#!/bin/sh\\necho \"status: done\"\\n' | sudo tee {script} >/dev/null "
                    f"&& sudo chmod 755 {script}")
    if done.returncode != 0:
        raise RuntimeError(f"the guest could not be prepared: {done.stderr.strip()}")


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
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1")
    rules = (
        f"table ip {net.nft_table} {{\n chain postrouting {{\n type nat hook postrouting priority srcnat; "
        f'policy accept;\n ip saddr {net.target_ip} oifname != "ve-*" masquerade\n }}\n}}\n'
    )
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)


def _wait_for_ssh(host: NspawnHost, proc: subprocess.Popen, log: Path, deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the test host stopped ({proc.returncode}): {log.read_text()[-2000:]}")
        if host.ssh("true", timeout=10).returncode == 0:
            host.ssh("systemctl is-system-running --wait", timeout=60)
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


if __name__ == "__main__":  # pragma: no cover - warm the cache by hand: python -m aimachine.rehearsal.guest
    print(build_base())
