"""base: the VM is an Ubuntu 24.04 with an NVIDIA GPU, cloud-init has finished, apt waits for its lock
instead of failing, tools are in, and the swap file the catalog asks for (`swap_gb`, none by default)
is on. (22.04 is refused: its Python 3.10 cannot run current vLLM.)"""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations import server, systemd

from aimachine.configure.common import ensure_packages, put_files, stop
from aimachine.configure.facts import CloudInitStatus, PciDevices
from aimachine.configure.launcher import NOTE
from aimachine.configure.swap import swap_file
from aimachine.guest import parsers
from aimachine.guest.apt_calls import BASE_PACKAGES
from aimachine.guest.rendered import apt_files

SUPPORTED_UBUNTU = ("24.04",)
# `cloud-init status` while it still works; `done`, `disabled` and `error` are final (waiting on an
# error would count as a change on every run)
CLOUD_INIT_BUSY = ("running", "not started", "not run")


def unsupported_os(distro: dict | None) -> str | None:
    """Why this OS is refused, or None when it is a supported Ubuntu."""
    name = (distro or {}).get("name") or "unknown"
    release = (distro or {}).get("release_meta", {}).get("VERSION_ID", "")
    if name == "Ubuntu" and release in SUPPORTED_UBUNTU:
        return None
    return (
        f"the VM runs {name} {release}".rstrip()
        + "; supported: Ubuntu "
        + " or ".join(SUPPORTED_UBUNTU)
        + " (use the noble cloud image in vms[].image)"
    )


@deploy("base")
def base() -> None:
    cloud_init = host.get_fact(CloudInitStatus)
    if cloud_init in CLOUD_INIT_BUSY:
        server.shell(
            name="Wait for cloud-init to finish (it holds apt on first boot)",
            commands=["cloud-init status --wait >/dev/null || true"],
        )
    elif cloud_init == "error":
        logger.warning(NOTE + "cloud-init reports an error on the VM (`cloud-init status --long` says "
                       "which module); the configuration goes on")
    why = unsupported_os(host.get_fact(LinuxDistribution))
    if why:
        stop(why)
        return
    devices = host.get_fact(PciDevices)
    if devices is not None and parsers.nvidia_gpu(devices) is None:
        stop(
            "no NVIDIA GPU (vendor 10de) on the VM's PCI bus: check the VM's hostpci0 / PCI mapping "
            "on Proxmox and that the host binds the card to vfio-pci"
        )
        return
    put_files(apt_files())  # before the first apt call: first boot's apt-daily may hold the lock
    ensure_packages(BASE_PACKAGES, "base tools")
    systemd.service(
        name="qemu-guest-agent running (Proxmox reads the VM's address from it)",
        service="qemu-guest-agent",
        running=True,
    )
    swap_file(host.data.vm.swap_gb)
