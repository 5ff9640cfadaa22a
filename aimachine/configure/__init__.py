"""configure/: the VM's software by pyinfra, the only room that imports it: the inventory, facts, one
@deploy per concern (steps.py names them), and the launcher, through which alone the rest of the tool
reaches this room (it runs pyinfra as a subprocess)."""
