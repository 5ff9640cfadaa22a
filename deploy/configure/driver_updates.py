"""The NVIDIA driver stays where it was installed: held against `apt upgrade`, moved only on purpose.

`apt-mark hold` goes on the driver package (`nvidia-driver-NNN-open`, whose dependencies on its
libraries are exact versions, so the whole userspace stays) and on the signed-modules metapackage
`ubuntu-drivers` installed (`linux-modules-nvidia-NNN-open-generic`, which follows each new kernel).
Both are the names through which apt could move the driver: a point release, or a transitional
package of an older branch that pulls a newer one. `--upgrade-driver` unholds, upgrades and holds
again, then says whether the loaded module is still the installed driver's or a reboot is needed.
"""

from __future__ import annotations

import shlex

from pyinfra import host, logger
from pyinfra.api import State
from pyinfra.api.host import Host
from pyinfra.operations import python, server

from deploy.configure.common import APT_LOCK_WAIT, stop
from deploy.configure.facts import AptHolds, AptPolicy
from deploy.configure.launcher import NOTE
from deploy.guest import parsers
from deploy.guest.drivers import install_spec, module_metapackages


def _names(packages: list[str]) -> str:
    return " ".join(shlex.quote(p) for p in packages)


def installed_check(package: str) -> str:
    """A shell test: is PACKAGE installed (the exit code of `ubuntu-drivers install` is no proof)."""
    return (f"dpkg-query -W -f='${{Status}}\\n' {shlex.quote(package)} 2>/dev/null "
            "| grep -q 'install ok installed'")


def hold_command(package: str) -> str:
    """Hold PACKAGE and its installed modules metapackages, found when the command runs: on a fresh VM
    `ubuntu-drivers` installs the metapackage in the same run, after the facts were read."""
    prefix = "linux-modules-nvidia-" + package.removeprefix("nvidia-driver-") + "-"
    return (
        f"apt-mark hold {shlex.quote(package)} $(dpkg-query -W -f='${{db:Status-Abbrev}} ${{Package}}\\n' "
        f"'{prefix}*' 2>/dev/null | awk '$1 == \"ii\" && $2 ~ /^{prefix}[a-z]/ {{print $2}}')"
    )


def missing_holds(package: str, installed: dict | set | list, held: set[str]) -> list[str]:
    """The driver packages that should be held and are not."""
    return [p for p in [package, *module_metapackages(package, installed)] if p not in held]


def upgrade_commands(current: str, target: str, metas: list[str]) -> list[str]:
    """Unhold, upgrade (the same branch: its newest version; another branch: `ubuntu-drivers install`),
    hold again. A failed upgrade puts the holds back on what is still installed before it stops."""
    old = [current, *metas]
    rehold = f"{{ rc=$?; apt-mark hold {_names(old)} >/dev/null; exit $rc; }}"
    if target == current:
        upgrade = (f"DEBIAN_FRONTEND=noninteractive apt-get install -y {APT_LOCK_WAIT} --only-upgrade "
                   f"{_names(old)}")
    else:  # `ubuntu-drivers install` exits 0 without installing a DKMS-only driver: check the package
        upgrade = (f"{{ ubuntu-drivers install {install_spec(target)} && {installed_check(target)}; }} || "
                   f"{{ echo '{target} was not installed'; false; }}")
    return [f"apt-mark unhold {_names(old)} >/dev/null", f"{upgrade} || {rehold}", hold_command(target)]


MODULE_VERSIONS = (
    "echo \"loaded=$(cat /sys/module/nvidia/version 2>/dev/null)\"; "
    "echo \"installed=$(dpkg-query -W -f='${{Version}}' {package} 2>/dev/null)\""
)


def reboot_note(loaded: str | None, installed: str | None, vm_name: str) -> str:
    """What the admin does after an upgrade: nothing, or reboot because the running module is not the
    installed driver's (its libraries would refuse the old module: `Driver/library version mismatch`)."""
    after = f"then `aimachine verify {vm_name}`"
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
    loaded, installed = parsers.parse_module_versions(output.stdout if status else "")
    logger.warning(NOTE + reboot_note(loaded, installed, vm_name))


def hold_driver(package: str, installed: dict, installing: bool) -> None:
    """Hold the driver after it is installed in this run, or when a hold is missing."""
    missing = missing_holds(package, installed, host.get_fact(AptHolds) or set())
    if installing or missing:
        server.shell(
            name=f"Hold {package} and its modules metapackage (apt upgrade keeps this driver)",
            commands=[hold_command(package)],
        )


def upgrade_driver(target: str | None, current: str | None, installed: dict, vm_name: str) -> None:
    """`aimachine configure NAME --upgrade-driver`: the held driver to the newest of its branch, or to
    the branch the catalog pins (TARGET), held again; nothing when nothing newer is there."""
    if current is None:
        stop(f"no -open NVIDIA driver is installed yet, so there is nothing to upgrade: run "
             f"`aimachine configure {vm_name}` first (it installs the driver and holds it)")
        return
    metas = module_metapackages(current, installed)
    if target == current:
        policy = host.get_fact(AptPolicy, packages=(current, *metas))
        newer = [f"{p} {policy[p].installed} -> {policy[p].candidate}"
                 for p in (current, *metas) if p in policy and policy[p].upgradable]
        if not newer:
            hold_driver(current, installed, installing=False)
            return
        what = f"Upgrade the held driver: {', '.join(newer)}"
    else:
        what = f"Move the held driver from {current} to {target} (nvidia.driver_branch)"
    upgrade = server.shell(name=what, commands=upgrade_commands(current, target, metas))
    python.call(
        name="Compare the loaded nvidia module with the installed driver (is a reboot needed?)",
        function=_say_if_reboot_needed,
        package=target,
        vm_name=vm_name,
        _if=upgrade.did_change,
    )
