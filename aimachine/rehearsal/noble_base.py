"""The test host's root: Ubuntu 24.04 (noble) from Ubuntu's own archive, as the cloud image starts.

debootstrap builds it through the archive cache (archive_cache.py) and checks the archive's signature
with Ubuntu's archive keyring, taken from the `ubuntu-keyring` package at a pinned version and sha256.
Everything comes from the release pocket (noble), as on an image older than the archive: the first-boot
update moves it to noble-updates for real. The root holds what the cloud image holds that the product's
steps meet: cloud-init (with lsb-release: without it cloud-init writes `Suites: UNAVAILABLE`),
OpenSSH, sudo, python3, systemd-resolved, the `virtual` kernel flavour and update-notifier-common (whose
kernel hook writes /var/run/reboot-required). One root per cache key, kept between runs.

What differs from the cloud image, because the test host is a container and not a VM (said once here):
- cloud-init reads a NoCloud seed bound at each boot, and leaves the network alone (the harness wires
  the container's veth with systemd-networkd);
- qemu-guest-agent talks on a unix socket: a container has no virtio serial port (an override unit in
  /etc/systemd/system; the agent is the real one). On a VM udev starts the static unit at every boot,
  when the port appears; here the override is wanted by multi-user.target instead.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from aimachine.rehearsal import vm_sysfs
from aimachine.rehearsal.archive_cache import ARCHIVE, SECURITY, ArchiveCache, serving

SUITE = "noble"
PYTHON = "3.12"  # noble's python3: the venv the vllm step makes on the test host
PACKAGES = (
    "systemd", "systemd-sysv", "systemd-resolved", "dbus", "openssh-server", "python3", "sudo",
    "iproute2", "ca-certificates", "ubuntu-keyring", "lsb-release", "cloud-init",
    "linux-image-virtual", "update-notifier-common", "locales",
)
# ubuntu-keyring as noble ships it: its deb's sha256 (from the archive, checked against noble's Packages)
KEYRING_DEB = "pool/main/u/ubuntu-keyring/ubuntu-keyring_2023.11.28.1_all.deb"
KEYRING_SHA256 = "36de43b15853ccae0028e9a767613770c704833f82586f28eb262f0311adb8a8"
KEYRING = "usr/share/keyrings/ubuntu-archive-keyring.gpg"
RECIPE = 5  # bump when the root's preparation below changes: a new cache key

# the cloud image's own apt sources (deb822), before cloud-init renders them again from its template
UBUNTU_SOURCES = f"""\
Types: deb
URIs: {ARCHIVE}/
Suites: noble noble-updates noble-backports
Components: main restricted universe multiverse
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg

Types: deb
URIs: {SECURITY}/
Suites: noble-security
Components: main restricted universe multiverse
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg
"""
CLOUD_CFG = """\
# the test host (a container): the NoCloud seed is bound in at each boot; the harness owns the network
datasource_list: [NoCloud, None]
network: {config: disabled}
"""
# Ubuntu's qemu-guest-agent.service with the virtio port replaced by a unix socket (a container has none)
# The VM's PCI bus (vm_sysfs.py) over the container's: nspawn mounts /sys after its own binds, so the
# container mounts it itself, before cloud-init and anything that reads the bus (the bus's links point
# into devices/pci0000:00, mounted over the machine's own root complex)
SYSFS_IN_GUEST = "/var/lib/aimachine-test-host/sysfs"
PCI_UNIT = f"""\
[Unit]
Description=The VM's PCI bus over the container's (test host)
DefaultDependencies=no
Before=sysinit.target cloud-init-local.service
ConditionPathIsDirectory={SYSFS_IN_GUEST}/bus/pci/devices

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/mount --bind {SYSFS_IN_GUEST}/{vm_sysfs.ROOT_COMPLEX} /sys/{vm_sysfs.ROOT_COMPLEX}
ExecStart=/usr/bin/mount --bind {SYSFS_IN_GUEST}/bus/pci /sys/bus/pci

[Install]
WantedBy=sysinit.target
"""
GUEST_AGENT_UNIT = """\
[Unit]
Description=QEMU Guest Agent (test host: on a unix socket, the container has no virtio serial port)
IgnoreOnIsolate=yes

[Service]
ExecStart=/usr/sbin/qemu-ga --method=unix-listen --path=/run/qemu-ga.sock
Restart=always
RestartSec=0

[Install]
# what the virtio port's udev rule does on a VM: start it at every boot
WantedBy=multi-user.target
"""


def cache_dir() -> Path:
    return Path(os.environ.get("AIMACHINE_NSPAWN_CACHE", "/var/tmp/aimachine-nspawn"))


def cache_key() -> str:
    return hashlib.sha256(f"{SUITE} {ARCHIVE} {','.join(PACKAGES)} {KEYRING_SHA256} {RECIPE}".encode()
                          ).hexdigest()[:12]


def keyring(cache: ArchiveCache) -> Path:
    """Ubuntu's archive keyring out of the pinned ubuntu-keyring package (from the archive cache)."""
    deb = cache.get(f"{ARCHIVE}/{KEYRING_DEB}")
    if deb is None:
        raise RuntimeError(f"{KEYRING_DEB} is not in the archive cache ({cache.root}): run make test-host")
    digest = hashlib.sha256(deb.read_bytes()).hexdigest()
    if digest != KEYRING_SHA256:
        raise RuntimeError(f"{deb}: sha256 {digest}, expected {KEYRING_SHA256}: remove it and fill again")
    out = cache_dir() / f"ubuntu-keyring-{KEYRING_SHA256[:12]}"
    if not (out / KEYRING).is_file():
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(out)], check=True)
    return out / KEYRING


def _script() -> str:
    """debootstrap's script for noble: its own when it has one, else gutsy's, which every Ubuntu
    release since links to (Debian 12's debootstrap predates noble)."""
    scripts = Path("/usr/share/debootstrap/scripts")
    return str(scripts / (SUITE if (scripts / SUITE).exists() else "gutsy"))


def build(cache: ArchiveCache | None = None) -> Path:
    """The noble root for this cache key, built once (debootstrap through the archive cache)."""
    root = cache_dir() / f"{SUITE}-{cache_key()}"
    if (root / ".complete").exists():
        return root
    cache = cache or ArchiveCache()
    ring = keyring(cache)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    log = cache_dir() / f"{root.name}.log"
    with serving("127.0.0.1", cache, 0) as proxy, log.open("w") as out:
        done = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--keyring={ring}", f"--include={','.join(PACKAGES)}",
             SUITE, str(root), ARCHIVE, _script()],
            stdout=out, stderr=subprocess.STDOUT, check=False,
            env={**os.environ, "http_proxy": proxy},
        )
    if done.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        missing = f"; not in the cache: {', '.join(cache.misses[:3])}" if cache.misses else ""
        raise RuntimeError(f"debootstrap {SUITE} failed ({done.returncode}); see {log}{missing}")
    _prepare(root)
    (root / ".complete").touch()
    return root


def _prepare(root: Path) -> None:
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    (root / "etc/apt/sources.list.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/apt/sources.list.d/ubuntu.sources").write_text(UBUNTU_SOURCES)
    (root / "etc/cloud/cloud.cfg.d/90-aimachine-test-host.cfg").write_text(CLOUD_CFG)
    (root / "etc/systemd/system/qemu-guest-agent.service").write_text(GUEST_AGENT_UNIT)
    (root / "etc/systemd/system/aimachine-test-pci.service").write_text(PCI_UNIT)
    for keyfile in (root / "etc/ssh").glob("ssh_host_*"):
        keyfile.unlink()  # cloud-init makes them per instance, before sshd starts
    (root / "etc/systemd/network").mkdir(parents=True, exist_ok=True)
    subprocess.run(["systemctl", f"--root={root}", "enable", "systemd-networkd", "aimachine-test-pci",
                    "qemu-guest-agent"],
                   capture_output=True, check=False)
    (root / "etc/hostname").write_text("ubuntu\n")  # cloud-init names it from the user-data
    for stale in ("var/lib/apt/lists", "var/cache/apt/archives"):
        for item in (root / stale).glob("*"):
            if item.is_file():
                item.unlink()
    (root / "etc/machine-id").write_text("")  # a new one per boot, as on a fresh image


def fresh_seed(directory: Path, user_data: str, hostname: str) -> Path:
    """A NoCloud seed (user-data, meta-data with a new instance id) in DIRECTORY, to bind at
    /var/lib/cloud/seed/nocloud."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "user-data").write_text(user_data)
    instance = f"i-{uuid.uuid4().hex[:12]}"  # new per seed: cloud-init runs its per-instance modules
    (directory / "meta-data").write_text(f"instance-id: {instance}\nlocal-hostname: {hostname}\n")
    return directory
