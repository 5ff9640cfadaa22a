"""The pyinfra inventory file `aimachine configure` runs (shipped in the package): one host per VM of the
catalog, from aimachine/configure/inventory.py. The checkout's ./inventory.py is the same for plain
`pyinfra inventory.py deploy.py`."""

from aimachine.configure.inventory import inventory_hosts

vms = inventory_hosts()
