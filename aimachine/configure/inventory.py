"""Hosts for pyinfra from the catalog: one per VM, addressed by static IP or the recorded address.

Environment:
  AIMACHINE_CATALOG   the catalog (default catalog.yml)
  AIMACHINE_VM        only this VM (default: every VM in the catalog)
  AIMACHINE_STEPS     only these configuration steps, comma separated (default: all)
  AIMACHINE_UPGRADE_DRIVER=1
                      the nvidia step moves the held driver (`aimachine configure NAME --upgrade-driver`)
  AIMACHINE_SSH_HOST, AIMACHINE_SSH_PORT, AIMACHINE_SSH_USER, AIMACHINE_SSH_KEY,
  AIMACHINE_SSH_KNOWN_HOSTS
                      override the connection (a test host, a jump through a tunnel)
"""

from __future__ import annotations

import os
import sys
from typing import Any

from aimachine.catalog.schema import DEFAULT_CATALOG, Catalog, Vm, load_catalog
from aimachine.reach import state
from aimachine.reach.address import NoAddress, known_address, no_address


def address_of(vm: Vm) -> str:
    """The VM's known address (AIMACHINE_SSH_HOST overrides it), or NoAddress."""
    found = os.environ.get("AIMACHINE_SSH_HOST") or known_address(vm)
    if not found:
        raise NoAddress(no_address(vm))
    return found


def host_data(vm: Vm, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Connection settings and the VM's catalog entry, as pyinfra host data."""
    env = os.environ if env is None else env
    user = env.get("AIMACHINE_SSH_USER") or vm.login.user
    data: dict[str, Any] = {
        "ssh_user": user,
        "ssh_port": int(env.get("AIMACHINE_SSH_PORT") or 22),
        "ssh_key": env.get("AIMACHINE_SSH_KEY") or vm.login.private_key_path(),
        "ssh_allow_agent": True,  # a passphrase-protected key works through the agent
        "ssh_look_for_keys": False,
        "ssh_strict_host_key_checking": "accept-new",
        "vm": vm,
        "steps": env.get("AIMACHINE_STEPS") or None,
        "upgrade_driver": env.get("AIMACHINE_UPGRADE_DRIVER") == "1",
    }
    # the tool's own known_hosts (as for its ssh calls): provision forgets the key of a rebuilt VM
    if env.get("AIMACHINE_SSH_KNOWN_HOSTS"):
        data["ssh_known_hosts_file"] = env["AIMACHINE_SSH_KNOWN_HOSTS"]
    else:
        state.state_dir().mkdir(parents=True, exist_ok=True)
        data["ssh_known_hosts_file"] = str(state.state_dir().resolve() / "known_hosts")
    if user != "root":
        data["_sudo"] = True
    return data


def inventory_hosts(catalog: Catalog | None = None) -> list[tuple[str, dict[str, Any]]]:
    catalog = catalog or load_catalog(os.environ.get("AIMACHINE_CATALOG") or DEFAULT_CATALOG)
    only = os.environ.get("AIMACHINE_VM")
    if only:
        vm = catalog.vm(only)
        return [(address_of(vm), host_data(vm))]
    hosts, unknown = [], []
    for vm in catalog.vms:  # every VM: those not provisioned yet are left out, and named
        try:
            hosts.append((address_of(vm), host_data(vm)))
        except NoAddress as exc:
            unknown.append(str(exc))
    if not hosts:
        raise NoAddress("; ".join(unknown))
    for problem in unknown:
        print(f"inventory: skipped: {problem}", file=sys.stderr)
    return hosts
