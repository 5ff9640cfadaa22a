"""Rollback after a failed apply: remove the VM this run created (Terraform first, then stop and purge
through the API), never one that holds the id under another name, and confirm it is gone."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aimachine.errors import PhaseError
from aimachine.proxmox import gpu_state, paths
from aimachine.proxmox.api import Api, ApiError
from aimachine.proxmox.ownership import holder_on
from aimachine.proxmox.terraform import Terraform, TerraformError
from aimachine.reach import state

if TYPE_CHECKING:
    from aimachine.proxmox.provision import Run


def rollback(run: Run, tf: Terraform) -> str:
    """Remove the VM this run created: Terraform first, then stop + purge through the API."""
    api, vmid, node = run.client("provision"), run.vm.vmid, run.node
    found = holder_on(api, vmid)
    if not found.exists:
        return f"no VM {vmid} was created"
    if found.foreign(run.vm.name):  # someone else's VM took the id: hands off
        return f"VM {vmid} is now {found.name!r}, not ours: left alone"
    run.echo(f"  rolling back: removing VM {vmid}, which this run created")
    was_running = running(api, node, vmid)
    try:
        tf.destroy_vm()
    except TerraformError:
        run.echo("  terraform destroy failed; removing the VM through the API")
    found = holder_on(api, vmid)
    if not found.exists:
        return _removed(run, vmid, was_running)
    if found.foreign(run.vm.name):
        return f"VM {vmid} is now {found.name!r}, not ours: left alone"
    try:
        if running(api, node, vmid):
            api.wait_task(node, api.post(paths.vm_stop(node, vmid)), 120)
        status = api.wait_task(node, api.delete(paths.vm(node, vmid), purge=1,
                                                **{"destroy-unreferenced-disks": 1}), 300)
    except ApiError as err:
        status = err.message
    if not holder_on(api, vmid).exists:
        return _removed(run, vmid, was_running)
    raise PhaseError("provision", f"rollback failed: VM {vmid} {run.vm.name} still exists ({status})",
                     f"remove it on the node: `qm stop {vmid}; qm destroy {vmid} --purge "
                     "--destroy-unreferenced-disks 1`")


def running(api: Api, node: str, vmid: int) -> bool:
    """Is the VM running (so its removal stops it, the card with it)? Unknown counts as not running."""
    try:
        return api.get(paths.vm_status(node, vmid)).get("status") == "running"
    except ApiError:
        return False


def note_forced_stop(echo: Callable[[str], None], vm_name: str, vmid: int, how: str) -> None:
    """Say that the card's VM was stopped, and remember when: a start that hangs later names it."""
    echo(gpu_state.stopped_note(vmid, how))
    state.update(vm_name, forced_stop=time.strftime("%Y-%m-%d %H:%M"))


def _removed(run: Run, vmid: int, was_running: bool) -> str:
    if was_running:
        note_forced_stop(run.echo, run.vm.name, vmid, "stopped (forced) by the rollback")
    return f"rolled back: VM {vmid} removed"
