terraform {
  # 1.5: import blocks and the check/precondition behaviour the files rely on; OpenTofu 1.6+ reads the same.
  required_version = ">= 1.5"

  required_providers {
    proxmox = {
      source = "bpg/proxmox"
      # any 0.x release from 0.111 on: the resource names used here (proxmox_hardware_mapping_pci,
      # proxmox_hardware_pci) exist there; 1.0 may rename the VM resource.
      version = "~> 0.111"
    }
  }
}
