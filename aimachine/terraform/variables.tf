variable "catalog_path" {
  type        = string
  description = "Absolute path of catalog.yml; Terraform reads the catalog itself, so it and aimachine never disagree."

  validation {
    condition     = startswith(var.catalog_path, "/")
    error_message = "catalog_path must be an absolute path, e.g. -var catalog_path=$PWD/catalog.yml."
  }
}

variable "vm_name" {
  type        = string
  description = "Name of the VM in the catalog (vms[].name); use one Terraform workspace per VM, named like it."

  validation {
    condition     = can(regex("^vm-[a-z0-9]([a-z0-9-]{0,58}[a-z0-9])?$", var.vm_name))
    error_message = "vm_name must be a catalog VM name: 'vm-' then lower-case letters, digits and '-' (at most 63 characters)."
  }
}

variable "manage_mapping" {
  type        = bool
  default     = true
  description = "Whether this workspace manages the catalog's PCI mapping. aimachine passes false when the mapping existed before (made by hand or by another workspace): it is then used by name and never changed or deleted here."
}
