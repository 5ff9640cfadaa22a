"""`pyinfra inventory.py deploy.py`: the design card's `pyinfra inventory.py deploy`, in the form pyinfra 3
accepts (a deploy file ends in .py). The same configuration as aimachine/configure/vm.py; see that file.
"""

from aimachine.configure.steps import run_selected

run_selected()
