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
