"""nvidia: the open distro driver from `ubuntu-drivers`, its signed modules loaded, nvidia-smi working."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.server import KernelVersion
from pyinfra.operations import server
from pyinfra.operations.util import any_changed

from deploy.configure import parsers
from deploy.configure.common import stop
from deploy.configure.facts import NvidiaSmi, PciDevices, PciDriver, UbuntuDriversDevices
from deploy.nvidia import (
    DriverChoiceError,
    choose_driver,
    install_spec,
    installed_open_driver,
    module_package,
)

# What the admin needs when nvidia-smi fails after the install: its output, the kernel's view, the packages.
SMI_CHECK = (
    "nvidia-smi || { rc=$?; echo '--- dmesg | grep -i nvidia'; dmesg | grep -i nvidia | tail -n 40; "
    "echo '--- driver packages'; dpkg -l 'nvidia-*' 'linux-modules-nvidia-*' | grep '^ii'; "
    "exit $rc; }"
)


@deploy("nvidia")
def nvidia() -> None:
    vm = host.data.vm
    offered = host.get_fact(UbuntuDriversDevices)
    if offered is None:
        stop("ubuntu-drivers was not installed when this run started (the base step installs "
             "ubuntu-drivers-common): run the configuration again")
        return
    installed = host.get_fact(DebPackages) or {}
    try:
        package = choose_driver(offered, vm.nvidia.driver_branch)
    except DriverChoiceError as exc:
        stop(str(exc))
        return
    if vm.nvidia.driver_branch == "auto":
        package = installed_open_driver(installed) or package
    modules = module_package(package, host.get_fact(KernelVersion))
    changed = []
    if package not in installed or modules not in installed:
        spec = install_spec(package)
        install = server.shell(
            name=f"Install {package} (ubuntu-drivers install {spec})",
            commands=[f"ubuntu-drivers install {spec}"],
        )
        # The exit code alone is not proof: a driver with only DKMS modules is skipped silently.
        server.shell(
            name=f"Confirm the signed module package {modules} is installed",
            commands=[
                f"dpkg-query -W -f='${{Status}}\\n' {modules} | grep -q 'install ok installed' "
                f"|| {{ echo '{modules} is not installed: ubuntu-drivers installed no "
                f"signed modules for kernel {host.get_fact(KernelVersion)}'; exit 1; }}"
            ],
            _if=install.did_change,
        )
        changed.append(install)
    gpu = parsers.nvidia_gpu(host.get_fact(PciDevices) or [])
    holder = host.get_fact(PciDriver, address=gpu.address) if gpu else None
    if holder == "nouveau":
        changed.append(
            server.reboot(
                name=f"Reboot: nouveau holds the GPU at {gpu.address}; nvidia can load only after a reboot"
            )
        )
    else:
        for module in ("nvidia", "nvidia_uvm"):
            changed.append(server.modprobe(name=f"Load the {module} module", module=module))
    if not host.get_fact(NvidiaSmi):
        server.shell(name="nvidia-smi sees the GPU", commands=[SMI_CHECK])
    elif changed:
        server.shell(name="nvidia-smi sees the GPU", commands=[SMI_CHECK], _if=any_changed(*changed))
