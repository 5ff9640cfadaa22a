"""base: the VM is an Ubuntu 22.04/24.04 with an NVIDIA GPU, cloud-init has finished, tools are in,
and the swap file the catalog asks for (`swap_gb`, none by default) is on."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations import server, systemd

from deploy.configure.common import ensure_packages, stop
from deploy.configure.facts import CloudInitStatus, PciDevices
from deploy.configure.swap import swap_file
from deploy.guest import parsers

SUPPORTED_UBUNTU = ("22.04", "24.04")
BASE_PACKAGES = ["curl", "ca-certificates", "zstd", "pciutils", "qemu-guest-agent", "ubuntu-drivers-common"]


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
    if host.get_fact(CloudInitStatus) not in (None, "done", "disabled"):
        server.shell(
            name="Wait for cloud-init to finish (it holds apt on first boot)",
            commands=["cloud-init status --wait >/dev/null || true"],
        )
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
    ensure_packages(BASE_PACKAGES, "base tools")
    systemd.service(
        name="qemu-guest-agent running (Proxmox reads the VM's address from it)",
        service="qemu-guest-agent",
        running=True,
    )
    swap_file(host.data.vm.swap_gb)
