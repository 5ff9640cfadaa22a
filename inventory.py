"""pyinfra inventory built from the catalog: `pyinfra inventory.py deploy/configure/vm.py`.

See deploy/configure/inventory.py for the variables it reads (AIMACHINE_VM, AIMACHINE_CATALOG, ...).
"""

from deploy.configure.inventory import inventory_hosts

vms = inventory_hosts()
