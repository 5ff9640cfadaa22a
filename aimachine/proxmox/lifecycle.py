"""Destroying the VM after a deploy: only the VM the catalog names, by id and name."""

from __future__ import annotations

from aimachine.errors import PhaseError
from aimachine.proxmox import provision as prov
from aimachine.proxmox.ownership import Holder, holder_on, refuse_foreign
from aimachine.proxmox.rollback import note_forced_stop, running
from aimachine.proxmox.terraform import TerraformError
from aimachine.reach import state


def holder(run: prov.Run, command: str = "destroy") -> Holder:
    """What holds the catalog's VM id now (status and destroy decide by it)."""
    return holder_on(run.client(command), run.vm.vmid)


def destroy(run: prov.Run, terraform_bin: str | None) -> str:
    """terraform destroy of the VM (the shared PCI mapping stays), then confirm it is gone. Refuses
    when the catalog's id holds a VM of another name (checked again here, after any confirmation)."""
    api = run.client("destroy")
    refuse_foreign(holder(run), run.vm.name, run.node, "destroy")
    was_running = running(api, run.node, run.vm.vmid)
    try:
        tf = prov.terraform_settled(run, terraform_bin, "destroy")
        tf.destroy_vm()
    except TerraformError as err:
        raise PhaseError("destroy", f"terraform {err.command} failed; VM {run.vm.vmid} may still exist",
                         "read the output above; `aimachine status` shows what is left") from None
    if holder_on(api, run.vm.vmid).exists:
        raise PhaseError("destroy", f"VM {run.vm.vmid} still exists after terraform destroy",
                         "it is not in this workspace's state: remove it on the node with "
                         f"`qm destroy {run.vm.vmid} --purge`, after checking it is the right VM")
    state.update(run.vm.name, address=None)
    if was_running:
        note_forced_stop(run.echo, run.vm.name, run.vm.vmid, "stopped by terraform destroy")
    return f"VM {run.vm.vmid} {run.vm.name} destroyed"
