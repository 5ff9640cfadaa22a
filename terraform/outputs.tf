output "vmid" {
  description = "The VM's id on Proxmox."
  value       = proxmox_virtual_environment_vm.vm.vm_id
}

output "name" {
  description = "The VM's name, also its host name."
  value       = proxmox_virtual_environment_vm.vm.name
}

output "node" {
  description = "The node that runs the VM."
  value       = proxmox_virtual_environment_vm.vm.node_name
}

output "ipv4_addresses" {
  description = "IPv4 addresses the guest agent reports, loopback left out, flat; empty until the agent answers."
  value = [
    for address in flatten(proxmox_virtual_environment_vm.vm.ipv4_addresses) : address
    if !startswith(address, "127.")
  ]
}
