"""proxmox/: everything that talks to the Proxmox host: the API client, its paths, preflight, the
privileges, ownership ("is it ours?"), Terraform (plan read as JSON), the cloud-init snippet, provision
with rollback, status and destroy, and the translation of Proxmox's error texts."""
