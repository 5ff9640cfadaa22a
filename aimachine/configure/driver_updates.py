"""The NVIDIA driver and the kernel stay where they were installed: held together against `apt upgrade`
and unattended-upgrades, moved together only on purpose.

`apt-mark hold` goes on the driver package (`nvidia-driver-NNN-open`, whose dependencies on its
libraries are exact versions, so the whole userspace stays), on the signed-modules metapackage
`ubuntu-drivers` installed (`linux-modules-nvidia-NNN-open-generic`, which follows each new kernel),
and on the kernel metapackages (`linux-generic`, `linux-image-generic`...): a held driver beside a
kernel that moves on alone has no module for it after the next reboot. `--upgrade-driver` unholds,
upgrades kernel and driver in one apt call and holds again, then says whether a reboot is needed (a
new kernel, /var/run/reboot-required, or a loaded module older than the installed driver).
"""

from __future__ import annotations

import shlex

from pyinfra import host, logger
from pyinfra.api import State
from pyinfra.api.host import Host
from pyinfra.operations import python, server

from aimachine.configure.common import stop
from aimachine.configure.facts import AptHolds, AptPolicy
from aimachine.configure.launcher import NOTE
from aimachine.guest import parsers
from aimachine.guest.apt_calls import APT_LOCK_WAIT, UBUNTU_DRIVERS
from aimachine.guest.drivers import install_spec, kernel_metapackages, module_metapackages


def _names(packages: list[str]) -> str:
    return " ".join(shlex.quote(p) for p in packages)


def installed_check(package: str) -> str:
    """A shell test: is PACKAGE installed (the exit code of `ubuntu-drivers install` is no proof)?
    PACKAGE may end in a shell expansion such as `$(uname -r)`, kept unquoted. A held package reads
    `hold ok installed`."""
    name = package if "$(" in package else shlex.quote(package)
    return (f"dpkg-query -W -f='${{Status}}\\n' \"{name}\" 2>/dev/null "
            "| grep -Eq '^(install|hold) ok installed$'")


def hold_command(package: str, kernels: list[str]) -> str:
    """Hold PACKAGE, the kernel metapackages KERNELS and the driver's installed modules metapackages,
    found when the command runs: on a fresh VM `ubuntu-drivers` installs the metapackage in the same
    run, after the facts were read."""
    prefix = "linux-modules-nvidia-" + package.removeprefix("nvidia-driver-") + "-"
    return (
        f"apt-mark hold {_names([package, *kernels])} "
        f"$(dpkg-query -W -f='${{db:Status-Abbrev}} ${{Package}}\\n' "
        f"'{prefix}*' 2>/dev/null | awk '$1 ~ /^[ih]i/ && $2 ~ /^{prefix}[a-z]/ {{print $2}}')"
    )


def held_together(package: str, installed: dict | set | list) -> list[str]:
    """Everything that moves only with the driver: the driver, its modules metapackages, the kernel's."""
    return [package, *module_metapackages(package, installed), *kernel_metapackages(installed)]


def missing_holds(package: str, installed: dict | set | list, held: set[str]) -> list[str]:
    """The driver and kernel packages that should be held and are not."""
    return [p for p in held_together(package, installed) if p not in held]


def upgrade_commands(current: str, target: str, metas: list[str], kernels: list[str]) -> list[str]:
    """Unhold, upgrade kernel and driver in one apt call (the same branch: its newest version; another
    branch: the kernel first, then `ubuntu-drivers install` for it), hold again. A failed upgrade puts
    the holds back on what is still installed before it stops."""
    old = [current, *metas, *kernels]
    rehold = f"{{ rc=$?; apt-mark hold {_names(old)} >/dev/null; exit $rc; }}"
    apt = (f"DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {APT_LOCK_WAIT} "
           "--only-upgrade")
    if target == current:
        upgrade = f"{apt} {_names(old)}"
    else:  # `ubuntu-drivers install` exits 0 without installing a DKMS-only driver: check the package
        kernel = f"{apt} {_names(kernels)} && " if kernels else ""
        upgrade = (f"{{ {kernel}{UBUNTU_DRIVERS} install {install_spec(target)} && "
                   f"{installed_check(target)}; }} || {{ echo '{target} was not installed'; false; }}")
    return [f"apt-mark unhold {_names(old)} >/dev/null", f"{upgrade} || {rehold}",
            hold_command(target, kernels)]


MODULE_VERSIONS = (
    "echo \"loaded=$(cat /sys/module/nvidia/version 2>/dev/null)\"; "
    "echo \"installed=$(dpkg-query -W -f='${{Version}}' {package} 2>/dev/null)\"; "
    "test -e /var/run/reboot-required && echo reboot-required=yes; true"
)


def reboot_note(loaded: str | None, installed: str | None, vm_name: str, kernel_waits: bool = False) -> str:
    """What the admin does after an upgrade: nothing, or reboot because a new kernel waits
    (/var/run/reboot-required) or the running module is not the installed driver's (its libraries would
    refuse the old module: `Driver/library version mismatch`)."""
    after = f"then `aimachine verify {vm_name}`"
    if kernel_waits:
        return (f"reboot needed: a new kernel is installed with the driver's modules for it "
                f"(/var/run/reboot-required): reboot the VM (sudo reboot), {after}")
    if installed is None:
        return f"reboot needed: no NVIDIA driver package is installed now: reboot the VM, {after}"
    if loaded is None:
        return f"reboot needed: no nvidia module is loaded: reboot the VM to load {installed}, {after}"
    if loaded != installed:
        return (f"reboot needed: the loaded nvidia module is {loaded}, the installed driver {installed}: "
                f"reboot the VM (sudo reboot), {after}")
    return f"no reboot needed: the loaded nvidia module {loaded} is the installed driver's"


def _say_if_reboot_needed(state: State, host: Host, package: str, vm_name: str) -> None:
    status, output = host.run_shell_command(MODULE_VERSIONS.format(package=shlex.quote(package)))
    text = output.stdout if status else ""
    loaded, installed = parsers.parse_module_versions(text)
    logger.warning(NOTE + reboot_note(loaded, installed, vm_name, "reboot-required=yes" in text))


def hold_driver(package: str, installed: dict, installing: bool) -> None:
    """Hold driver and kernel after the driver is installed in this run, or when a hold is missing."""
    missing = missing_holds(package, installed, host.get_fact(AptHolds) or set())
    if installing or missing:
        server.shell(
            name=f"Hold {package}, its modules and the kernel metapackages (they move together)",
            commands=[hold_command(package, kernel_metapackages(installed))],
        )


def upgrade_driver(target: str | None, current: str | None, installed: dict, vm_name: str) -> None:
    """`aimachine configure NAME --upgrade-driver`: the held driver to the newest of its branch, or to
    the branch the catalog pins (TARGET), held again; nothing when nothing newer is there."""
    if current is None:
        stop(f"no -open NVIDIA driver is installed yet, so there is nothing to upgrade: run "
             f"`aimachine configure {vm_name}` first (it installs the driver and holds it)")
        return
    metas = module_metapackages(current, installed)
    kernels = kernel_metapackages(installed)
    if target == current:
        moving = tuple(held_together(current, installed))
        policy = host.get_fact(AptPolicy, packages=moving)
        newer = [f"{p} {policy[p].installed} -> {policy[p].candidate}"
                 for p in moving if p in policy and policy[p].upgradable]
        if not newer:
            hold_driver(current, installed, installing=False)
            return
        what = f"Upgrade the held driver and kernel together: {', '.join(newer)}"
    else:
        what = f"Move the held driver from {current} to {target} (nvidia.driver_branch)"
    upgrade = server.shell(name=what, commands=upgrade_commands(current, target, metas, kernels))
    python.call(
        name="Compare the loaded nvidia module with the installed driver (is a reboot needed?)",
        function=_say_if_reboot_needed,
        package=target,
        vm_name=vm_name,
        _if=upgrade.did_change,
    )
