"""A Proxmox VE API simulator for tests: HTTPS on 127.0.0.1, state from YAML, faults injectable.

Run it as `python -m tests.pve_sim --state STATE.yml --port 0`; the first stdout line is its base
URL. The product never imports this package.
"""
