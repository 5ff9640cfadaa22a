"""The VM's status at a glance: state, GPU, address, services; what cannot be read says why."""

from __future__ import annotations

from aimachine.catalog import gateway
from aimachine.catalog.schema import Vm
from aimachine.proxmox import paths
from aimachine.proxmox import provision as prov
from aimachine.proxmox.api import ApiError
from aimachine.proxmox.lifecycle import holder
from aimachine.reach import ssh, state
from aimachine.reach.address import agent_ipv4, vm_target

STATUS_COMMAND = ("systemctl is-active vllm ollama | paste -sd ' '; "
                  "nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu "
                  "--format=csv,noheader 2>&1 | head -1")


def gateway_lines(vm: Vm, address: str | None) -> list[str]:
    """The gateway this VM runs (its URL) or sits behind, from the catalog; none without a gateway."""
    lines = []
    if vm.runs_gateway:
        lines.append(f"  gateway:  {gateway.url(vm.runs_gateway, vm, address)} "
                     f"({len(vm.runs_gateway.routes)} model names; key: gateway.master_key_file)")
    if vm.fronted and vm.fronted.gateway_address:
        lines.append(f"  behind:   the gateway on {vm.fronted.gateway_vm} ({vm.fronted.gateway_address})")
    return lines


def status_lines(run: prov.Run) -> list[str]:
    """VM state, address, GPU and services, each one line; what cannot be read says why."""
    api, vm = run.client("status"), run.vm
    found = holder(run, "status")
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
    lines += gateway_lines(vm, address)
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
