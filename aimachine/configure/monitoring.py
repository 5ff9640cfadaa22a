"""monitoring: nvtop, persistence mode through nvidia-persistenced, and a `gpu-status` command.

Ubuntu's nvidia-persistenced unit passes --no-persistence-mode; a drop-in turns persistence on."""

from __future__ import annotations

from pyinfra.api import deploy

from aimachine.configure.common import ensure_packages, put_files
from aimachine.configure.services import managed_service
from aimachine.guest.apt_calls import MONITORING_PACKAGES
from aimachine.guest.rendered import gpu_status_script, persistenced_dropin


@deploy("monitoring")
def monitoring() -> None:
    ensure_packages(MONITORING_PACKAGES, "nvtop")
    managed_service("nvidia-persistenced", [persistenced_dropin()], enabled=True)
    put_files([gpu_status_script()])
