"""After a deploy: the VM's status at a glance, and destroying it (only the VM the catalog names)."""

from __future__ import annotations

from deploy.errors import PhaseError
from deploy.proxmox import paths
from deploy.proxmox import provision as prov
from deploy.proxmox.api import ApiError
from deploy.proxmox.ownership import Holder, holder_on, refuse_foreign
from deploy.proxmox.terraform import TerraformError
from deploy.reach import ssh, state
from deploy.reach.address import agent_ipv4, vm_target


def holder(run: prov.Run) -> Holder:
    """What holds the catalog's VM id now (status and destroy decide by it)."""
    return holder_on(run.client("provision"), run.vm.vmid)


def destroy(run: prov.Run, terraform_bin: str | None) -> str:
    """terraform destroy of the VM (the shared PCI mapping stays), then confirm it is gone. Refuses
    when the catalog's id holds a VM of another name (checked again here, after any confirmation)."""
    api = run.client("provision")
    refuse_foreign(holder(run), run.vm.name, run.node, "destroy")
    try:
        tf = prov.terraform_settled(run, terraform_bin)
        tf.destroy_vm()
    except TerraformError as err:
        raise PhaseError("provision", f"terraform {err.command} failed; VM {run.vm.vmid} may still exist",
                         "read the output above; `aimachine status` shows what is left") from None
    if holder_on(api, run.vm.vmid).exists:
        raise PhaseError("provision", f"VM {run.vm.vmid} still exists after terraform destroy",
                         "it is not in this workspace's state: remove it on the node with "
                         f"`qm destroy {run.vm.vmid} --purge`, after checking it is the right VM")
    state.update(run.vm.name, address=None)
    return f"VM {run.vm.vmid} {run.vm.name} destroyed"


STATUS_COMMAND = ("systemctl is-active vllm ollama | paste -sd ' '; "
                  "nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu "
                  "--format=csv,noheader 2>&1 | head -1")


def status_lines(run: prov.Run) -> list[str]:
    """VM state, address, GPU and services, each one line; what cannot be read says why."""
    api, vm = run.client("provision"), run.vm
    found = holder(run)
    if not found.exists:
        return [f"{vm.name}: VM {vm.vmid} does not exist on {run.node} (run `aimachine deploy {vm.name}`)"]
    lines = [f"{vm.name}: VM {vm.vmid} on {run.node} is {found.status}"
             + ("" if found.ours(vm.name) else f" (but named {found.name!r}: not this catalog's VM)")]
    config = api.get(paths.vm_config(run.node, vm.vmid))
    lines.append(f"  gpu:      hostpci0 = {config.get('hostpci0', 'none')}")
    address = vm.static_address()
    if address is None and found.status == "running":
        try:
            address = agent_ipv4(api.get(paths.agent_interfaces(run.node, vm.vmid)))
        except ApiError as err:
            lines.append(f"  agent:    {err.message}")
    address = address or state.recorded_address(vm.name)
    lines.append(f"  address:  {address or 'unknown'}")
    if not address or found.status != "running":
        return lines
    out = ssh.run(vm_target(vm, address), STATUS_COMMAND, timeout=30)
    if out.returncode not in (0, 3):  # is-active exits 3 when a unit is inactive
        lines.append(f"  ssh:      {(out.stderr or out.stdout).strip() or 'failed'}")
        return lines
    services, _, gpu = out.stdout.partition("\n")
    lines.append(f"  services: vllm {services.split()[0] if services.split() else '?'}, "
                 f"ollama {services.split()[1] if len(services.split()) > 1 else '?'}")
    lines.append(f"  gpu use:  {gpu.strip() or 'nvidia-smi printed nothing'}")
    return lines
