"""What the configure steps ask of the VM's apt, as data: the package lists and the apt commands. The
steps install from here, and the archive cache of the test host is filled from here
(aimachine/rehearsal/archive_fill.py), so the two cannot drift apart."""

from __future__ import annotations

from aimachine.guest.rendered import APT_NO_RECOMMENDS

APT_LOCK_WAIT = "-o DPkg::Lock::Timeout=300"  # first boot: unattended-upgrades may hold the lock
# needrestart (Ubuntu) would restart services, sshd among them, in the middle of the run: the reboot
# that follows a kernel update restarts everything anyway
FIRST_BOOT_UPGRADE = (f"DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get -q -y {APT_LOCK_WAIT} "
                      "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold dist-upgrade")
# ubuntu-drivers takes no option against Recommends; apt reads this file in addition to its own
UBUNTU_DRIVERS = f"APT_CONFIG={APT_NO_RECOMMENDS} ubuntu-drivers"

BASE_PACKAGES = ["curl", "ca-certificates", "zstd", "gnupg", "pciutils", "qemu-guest-agent",
                 "ubuntu-drivers-common"]
SECURITY_PACKAGES = ["openssh-server", "ufw"]
MONITORING_PACKAGES = ["nvtop"]
MODEL_FETCH_PACKAGES = ["python3"]
DOWNLOAD_PACKAGES = ["curl", "zstd", "ca-certificates"]  # the Ollama release


def vllm_packages(python: str) -> list[str]:
    """Triton (under vLLM) compiles a small C launcher at the first start: a compiler and Python.h;
    curl for the unit's health wait."""
    return [f"python{python}-venv", f"python{python}-dev", "gcc", "libc6-dev", "curl"]
