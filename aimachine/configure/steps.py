"""The configuration steps by name, in the order the launcher names them (STEP_NAMES)."""

from __future__ import annotations

from collections.abc import Callable

from pyinfra import host

from aimachine.configure.base import base
from aimachine.configure.cuda import cuda
from aimachine.configure.gateway import gateway
from aimachine.configure.launcher import STEP_NAMES, select
from aimachine.configure.models import models
from aimachine.configure.monitoring import monitoring
from aimachine.configure.nvidia import nvidia
from aimachine.configure.ollama import ollama
from aimachine.configure.runfast import no_delay, one_read_per_fact
from aimachine.configure.security import security
from aimachine.configure.update import update
from aimachine.configure.vllm import vllm

STEPS: dict[str, Callable[[], None]] = {
    "base": base,
    "security": security,
    "update": update,
    "models": models,
    "nvidia": nvidia,
    "cuda": cuda,
    "vllm": vllm,
    "ollama": ollama,
    "gateway": gateway,
    "monitoring": monitoring,
}

assert tuple(STEPS) == STEP_NAMES, "the launcher's step names and the @deploy functions must agree"
__all__ = ["STEPS", "run_selected", "select"]


def run_selected() -> None:
    """The steps the host data names (`steps`, from AIMACHINE_STEPS; all by default), in order: the body
    of the deploy files aimachine/configure/vm.py and ./deploy.py."""
    no_delay()
    one_read_per_fact()
    for step in select(host.data.get("steps")):
        STEPS[step]()
