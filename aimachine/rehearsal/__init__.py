"""`aimachine rehearse`: the deploy against the built-in Proxmox VE simulator (aimachine/pvesim) and,
with root, a local systemd guest. The real deploy never imports this package."""
