"""update: on first boot, every package (the kernel included) to the archive's newest, and a reboot
when the kernel asks for one, before the driver step.

`ubuntu-drivers` installs the NVIDIA modules for the newest kernel apt offers, not for the running
one; on a cloud image older than the archive the modules would fit no kernel that runs until a
reboot. So the kernel moves first, the VM reboots into it (/var/run/reboot-required), cloud-init is
awaited again, and the driver step then builds on the kernel that runs. Afterwards kernel and driver
are held together (aimachine/configure/driver_updates.py) and move only with `--upgrade-driver`.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.files import File
from pyinfra.operations import server

from aimachine.configure.reboot import reboot_and_wait, reboot_required
from aimachine.guest.apt_calls import APT_LOCK_WAIT, FIRST_BOOT_UPGRADE
from aimachine.guest.drivers import installed_open_driver

FIRST_BOOT_DONE = "/var/lib/aimachine/first-boot-update.done"
WAIT_FOR_CLOUD_INIT = "cloud-init status --wait >/dev/null 2>&1 || true"


@deploy("update")
def update() -> None:
    upgraded = None
    if not host.get_fact(File, path=FIRST_BOOT_DONE):
        upgraded = server.shell(
            name="First-boot update: every package, the kernel included, to the newest (dist-upgrade)",
            commands=[f"apt-get -q {APT_LOCK_WAIT} update", FIRST_BOOT_UPGRADE,
                      f"mkdir -p /var/lib/aimachine && date -u +%FT%TZ > {FIRST_BOOT_DONE}"],
        )
    # Once the driver is in, a pending reboot is the admin's to schedule: a re-run never reboots.
    if upgraded is None and installed_open_driver(host.get_fact(DebPackages) or {}):
        return
    reboot = reboot_and_wait(
        name="Reboot into the updated kernel (/var/run/reboot-required), before the driver is installed",
        _if=reboot_required(host._get_module()),
    )
    server.shell(name="Wait for cloud-init after the reboot", commands=[WAIT_FOR_CLOUD_INIT],
                 _if=reboot.did_change)
