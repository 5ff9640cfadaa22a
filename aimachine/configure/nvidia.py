"""nvidia: the open distro driver from `ubuntu-drivers`, held, its signed modules loaded, nvidia-smi working.

With host data `upgrade_driver` (`aimachine configure NAME --upgrade-driver`) it moves the held driver
instead (aimachine/configure/driver_updates.py)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.server import KernelVersion
from pyinfra.operations import server
from pyinfra.operations.util import any_changed

from aimachine.configure.common import stop
from aimachine.configure.driver_updates import UBUNTU_DRIVERS, hold_driver, installed_check, upgrade_driver
from aimachine.configure.facts import NvidiaSmi, PciDevices, PciDriver, UbuntuDriversDevices
from aimachine.configure.reboot import reboot_and_wait
from aimachine.guest import parsers
from aimachine.guest.drivers import (
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


def no_modules_report(package: str, vm_name: str) -> str:
    """What the admin needs when `ubuntu-drivers install` exits 0 with no signed modules for the running
    kernel: ubuntu-drivers falls back to DKMS, which `install` leaves out, when it finds no
    linux-modules-nvidia package for the kernel's flavour or ABI (UbuntuDrivers/detect.py,
    get_linux_modules_metapackage; LP #2085962 was the `virtual` flavour), so show its reasons (its
    `debug` command: ubuntu-drivers has no --debug option) and what apt offers for those names."""
    flavour = package.removeprefix("nvidia-driver-")
    modules = module_package(package, "$(uname -r)")
    names = f'"{modules}" "linux-modules-nvidia-{flavour}-$(uname -r | cut -d- -f3-)" nvidia-dkms-{flavour}'
    return (
        f'echo "{modules} is not installed: ubuntu-drivers installed no signed modules for the running '
        'kernel $(uname -r)."; '
        "echo '--- ubuntu-drivers debug: how it chose the modules package'; "
        f"{UBUNTU_DRIVERS} debug 2>&1 | grep -E 'linux.modules|Falling back|can be found|nvidia-dkms' "
        "| head -n 20; "
        f"echo '--- apt-cache policy'; apt-cache -o quiet=0 policy {names} 2>&1; "
        'echo "Either the kernel is not an Ubuntu generic kernel with prebuilt NVIDIA modules (a custom, '
        'HWE-edge or other flavour: boot linux-generic), or the modules for this kernel are not published '
        f'yet: when the held driver predates this kernel, \\`aimachine configure {vm_name} '
        '--upgrade-driver\\` brings a build for it, or boot the previous kernel."'
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
    current = installed_open_driver(installed)
    if host.data.get("upgrade_driver"):
        pinned = vm.nvidia.driver_branch != "auto"
        upgrade_driver(package if pinned else current, current, installed, vm.name)
        return
    if current and current != package and vm.nvidia.driver_branch != "auto":
        stop(f"the catalog pins nvidia.driver_branch {vm.nvidia.driver_branch}, but {current} is "
             f"installed and held: moving the driver is deliberate: run `aimachine configure {vm.name} "
             f"--upgrade-driver` (or `make upgrade-driver VM={vm.name}`)")
        return
    package = current or package
    changed = []
    # the kernel as planned; the update step may reboot into a newer one first, so the check below
    # names the kernel that runs when it runs
    planned_modules = module_package(package, host.get_fact(KernelVersion))
    installing = package not in installed or planned_modules not in installed
    if installing:
        spec = install_spec(package)
        install = server.shell(
            name=f"Install {package} (ubuntu-drivers install {spec}, no Recommends)",
            commands=[f"{UBUNTU_DRIVERS} install {spec}"],
        )
        # The exit code alone is not proof: a driver with only DKMS modules is skipped silently.
        modules = module_package(package, "$(uname -r)")
        server.shell(
            name=f"Confirm the signed modules {module_package(package, 'KERNEL')} for the running kernel",
            commands=[f"{installed_check(modules)} || {{ {no_modules_report(package, vm.name)}; exit 1; }}"],
            _if=install.did_change,
        )
        changed.append(install)
    hold_driver(package, installed, installing)
    gpu = parsers.nvidia_gpu(host.get_fact(PciDevices) or [])
    holder = host.get_fact(PciDriver, address=gpu.address) if gpu else None
    if holder == "nouveau":
        changed.append(
            reboot_and_wait(
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
