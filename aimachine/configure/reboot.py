"""Reboot the VM and wait until it is back, told apart by its boot id.

pyinfra's `server.reboot` compares uptimes, which a container (the test host) shares with the machine
it runs on; the kernel's boot id (/proc/sys/kernel/random/boot_id) is new after every boot, on a VM and
in systemd-nspawn alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator

from pyinfra.api import FunctionCommand, StringCommand, operation
from pyinfra.api.host import Host
from pyinfra.connectors.util import clear_askpass_cache, remove_any_sudo_askpass_file

BOOT_ID = "cat /proc/sys/kernel/random/boot_id"
REBOOT_FLAG = "/var/run/reboot-required"  # written by Ubuntu's kernel postinst (update-notifier)


def boot_id(host: Host) -> str | None:
    ok, output = host.run_shell_command(BOOT_ID)
    return (output.stdout.strip() or None) if ok else None


def reboot_required(host: Host) -> Callable[[], bool]:
    """An `_if` condition read when the operation runs (after the upgrade before it), not when planned."""
    def check() -> bool:
        ok, _ = host.run_shell_command(f"test -e {REBOOT_FLAG}")
        return ok
    return check


@operation(is_idempotent=False)
def reboot_and_wait(timeout_s: float = 600, interval_s: float = 2) -> Generator:
    """Reboot; wait (up to TIMEOUT_S) until SSH answers with a new boot id."""
    before: list[str | None] = []

    def remember(state, host: Host) -> None:
        remove_any_sudo_askpass_file(host)
        before.append(boot_id(host))

    def wait(state, host: Host) -> None:
        clear_askpass_cache(host)
        host.disconnect()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            time.sleep(interval_s)
            host.connect(show_errors=False)
            if host.connected and (now := boot_id(host)) and now != before[0]:
                return
            if host.connected:
                host.disconnect()  # still the old boot: the reboot has not begun yet
        raise TimeoutError(f"the VM did not come back from its reboot within {timeout_s:.0f} s: check "
                           "its console on Proxmox, then run the configuration again")

    yield FunctionCommand(remember, (), {})
    yield StringCommand("( sleep 1 && systemctl reboot ) </dev/null >/dev/null 2>&1 &")
    yield FunctionCommand(wait, (), {})
