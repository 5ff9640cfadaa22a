"""A Proxmox VE API simulator: HTTPS on 127.0.0.1 only, state from YAML, faults injectable.

Routes, parameters and permission checks follow the official API schema (api-schema/). The tests and
`aimachine rehearse` run it; the real deploy never imports it. Run it alone as
`python -m aimachine.pvesim --state STATE.yml --port 0`; the first stdout line is its base URL.
"""
