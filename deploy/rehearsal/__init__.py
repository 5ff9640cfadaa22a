"""`aimachine rehearse`: the deploy against the built-in Proxmox VE simulator (deploy/pvesim) and,
with root, a local systemd guest. The real deploy never imports this package."""
