# The catalog entry this workspace manages, with the same defaults as aimachine/catalog/schema.py.
locals {
  catalog = yamldecode(file(var.catalog_path))

  # Defaults of the optional catalog fields Terraform reads, kept equal to the dataclass defaults in
  # aimachine/catalog/schema.py (tests/integration/test_terraform_files.py compares them).
  defaults = {
    proxmox  = { ssh_user = "root", auth = "api-token" }
    storages = { iso = "local", snippets = "local" }
    vm       = { node = null, cpu = "host", bridge = "vmbr0", ipv4 = "dhcp", gateway = null }
  }

  proxmox  = merge(local.defaults.proxmox, local.catalog.proxmox)
  storages = merge(local.defaults.storages, try(local.catalog.proxmox.storages, null))

  vm_names = [for entry in local.catalog.vms : entry.name]
  matches  = [for entry in local.catalog.vms : entry if entry.name == var.vm_name]
  # An unknown name leaves an entry of defaults only (locals read required fields through try) and
  # the precondition in main.tf reports it before any resource is evaluated.
  vm   = merge(local.defaults.vm, try(local.matches[0], {}))
  gpu  = try(local.vm.gpu, {})
  node = coalesce(local.vm.node, local.proxmox.node)

  # An API token never counts as root@pam, and only root@pam may attach a raw PCI device.
  gpu_by_mapping = local.proxmox.auth != "root-password"
  static_ipv4    = local.vm.ipv4 != "dhcp"
  # Images in 'import' content are imported by the API; those in 'iso' content over SSH (file_id).
  image_in_import = strcontains(try(local.vm.image, ""), ":import/")
}
