"""monitoring: nvtop, persistence mode through nvidia-persistenced, and a `gpu-status` command."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import systemd

from deploy.configure.common import ensure_packages, put_files
from deploy.guest.rendered import gpu_status_script


@deploy("monitoring")
def monitoring() -> None:
    ensure_packages(["nvtop"], "nvtop")
    systemd.service(
        name="nvidia-persistenced running (keeps the GPU initialised between jobs)",
        service="nvidia-persistenced",
        running=True,
        enabled=True,
    )
    put_files([gpu_status_script()])
