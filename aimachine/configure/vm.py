"""The VM configuration: `pyinfra inventory.py aimachine/configure/vm.py` (or `aimachine configure NAME`).

Every setting comes from the catalog through the inventory's host data (`vm`); the host data
`steps` (env AIMACHINE_STEPS) may narrow the run to some steps, e.g. for the test host.
"""

from aimachine.configure.steps import run_selected

run_selected()
