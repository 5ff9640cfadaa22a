"""pyinfra inventory built from the catalog: `pyinfra inventory.py deploy.py` (or aimachine/configure/vm.py).

See aimachine/configure/inventory.py for the variables it reads (AIMACHINE_VM, AIMACHINE_CATALOG, ...).
"""

from aimachine.configure.pyinfra_inventory import vms

__all__ = ["vms"]
