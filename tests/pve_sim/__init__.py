"""Test set-up around the Proxmox VE simulator (aimachine/pvesim): the pytest fixture, the CLI
environment, the stand-in ssh and node commands."""
