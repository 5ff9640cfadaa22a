# Endpoint, credentials and TLS come from PROXMOX_VE_ENDPOINT, PROXMOX_VE_API_TOKEN (or
# PROXMOX_VE_USERNAME/PROXMOX_VE_PASSWORD for root-password) and PROXMOX_VE_INSECURE: nothing secret here.
provider "proxmox" {
  # SSH to the node: the image import by file_id and the snippets storage need it.
  ssh {
    agent    = true
    username = local.proxmox.ssh_user
  }
}

# The GPU as the node sees it: its IOMMU group and subsystem id complete the PCI mapping.
data "proxmox_hardware_pci" "gpu" {
  node_name = local.node

  filters = {
    id        = local.gpu.pci_address
    vendor_id = split(":", local.gpu.vendor_device)[0]
    device_id = split(":", local.gpu.vendor_device)[1]
  }

  lifecycle {
    precondition {
      condition     = length(local.matches) == 1
      error_message = "No VM named \"${var.vm_name}\" in ${var.catalog_path}; the catalog has: ${join(", ", local.vm_names)}."
    }
    precondition {
      condition     = contains(["default", var.vm_name], terraform.workspace)
      error_message = "Workspace \"${terraform.workspace}\" holds another VM's state; run: terraform workspace select -or-create ${var.vm_name}"
    }
    postcondition {
      condition     = length(self.devices) > 0
      error_message = "No PCI device ${local.gpu.vendor_device} at ${local.gpu.pci_address} on node ${local.node}: compare gpu.pci_address and gpu.vendor_device in the catalog with `lspci -nn` on the node."
    }
    postcondition {
      condition     = alltrue([for dev in self.devices : dev.iommu_group >= 0])
      error_message = "IOMMU is off on node ${local.node} (the GPU has no IOMMU group): enable VT-d/AMD-Vi in the BIOS, add intel_iommu=on iommu=pt (Intel) or iommu=pt (AMD) to the kernel command line, reboot. See docs/TROUBLESHOOTING.md."
    }
  }
}

locals {
  # Function .0 (the GPU itself) describes the mapping; the path without a function passes all of them.
  gpu_function = data.proxmox_hardware_pci.gpu.devices[0]
  # A node that reports no subsystem id gives "" (not null): the mapping then goes without one.
  gpu_subsystem = try(local.gpu_function.subsystem_vendor, "") == "" ? null : join(":", [
    trimprefix(local.gpu_function.subsystem_vendor, "0x"),
    trimprefix(local.gpu_function.subsystem_device, "0x"),
  ])
  gpu_mapping = var.manage_mapping ? proxmox_hardware_mapping_pci.gpu[0].name : local.gpu.mapping
}

# Cluster PCI resource mapping: lets an API token attach the GPU (Mapping.Use), no root@pam needed.
# Managed only when this workspace created it; one that existed before is used by name, never touched.
resource "proxmox_hardware_mapping_pci" "gpu" {
  count   = var.manage_mapping ? 1 : 0
  name    = local.gpu.mapping
  comment = "${local.gpu.vendor_device} at ${local.gpu.pci_address}, managed by aimachine"

  map = [{
    node         = local.node
    path         = local.gpu.pci_address
    id           = local.gpu.vendor_device
    iommu_group  = local.gpu_function.iommu_group
    subsystem_id = local.gpu_subsystem
  }]
}

# State written before the mapping had a count.
moved {
  from = proxmox_hardware_mapping_pci.gpu
  to   = proxmox_hardware_mapping_pci.gpu[0]
}

resource "proxmox_virtual_environment_vm" "vm" {
  vm_id       = local.vm.vmid
  name        = local.vm.name
  node_name   = local.node
  description = "Managed by aimachine from catalog.yml: change the catalog, not this VM."
  tags        = ["aimachine"]

  machine = "q35"
  bios    = "ovmf"
  on_boot = true
  started = true
  # A VM holding a passed-through GPU may ignore ACPI shutdown; destroy (and rollback) must not hang.
  stop_on_destroy = true

  timeout_create      = 1200
  timeout_start_vm    = 300
  timeout_stop_vm     = 120
  timeout_shutdown_vm = 300
  timeout_reboot      = 300

  cpu {
    cores = local.vm.cores
    type  = local.vm.cpu
  }

  # Passthrough pins all guest memory, so a balloon could never return any: none.
  memory {
    dedicated = local.vm.memory_mb
    floating  = 0
  }

  # No pre-enrolled keys: with Secure Boot enforced, DKMS-built NVIDIA modules would not load.
  efi_disk {
    datastore_id      = local.vm.storage
    type              = "4m"
    pre_enrolled_keys = false
  }

  disk {
    datastore_id = local.vm.storage
    interface    = "virtio0"
    file_id      = local.image_in_import ? null : local.vm.image
    import_from  = local.image_in_import ? local.vm.image : null
    size         = local.vm.disk_gb
    discard      = "on"
    iothread     = true
  }

  boot_order = ["virtio0"]

  network_device {
    bridge = local.vm.bridge
    model  = "virtio"
  }

  # cloud-init installs the agent on first boot. Terraform never asks the agent for addresses: on a
  # running VM whose agent does not answer, every plan and destroy would wait `timeout` silently.
  # aimachine's boot phase waits for the address instead, with progress and a deadline.
  agent {
    enabled = true
    timeout = "15s"

    wait_for_ip {
      disabled = true
    }
  }

  operating_system {
    type = "l26"
  }

  # Cloud images log to the serial console: `qm terminal` works when the network does not.
  serial_device {}

  hostpci {
    device  = "hostpci0"
    mapping = local.gpu_by_mapping ? local.gpu_mapping : null
    id      = local.gpu_by_mapping ? null : local.gpu.pci_address
    pcie    = true
    rombar  = true
  }

  # User and SSH key live in the snippet aimachine writes over SSH: no key in this file or in state.
  initialization {
    datastore_id      = local.vm.storage
    user_data_file_id = "${local.storages.snippets}:snippets/${local.vm.name}-user-data.yaml"

    ip_config {
      ipv4 {
        address = local.vm.ipv4
        gateway = local.static_ipv4 ? local.vm.gateway : null
      }
    }
  }

  lifecycle {
    precondition {
      condition     = !local.static_ipv4 || local.vm.gateway != null
      error_message = "VM ${local.vm.name}: a static ipv4 (${local.vm.ipv4}) needs a gateway in the catalog."
    }
  }
}
