"""The configuration steps by name, in the order the launcher names them (STEP_NAMES)."""

from __future__ import annotations

from collections.abc import Callable

from pyinfra import host

from deploy.configure.base import base
from deploy.configure.cuda import cuda
from deploy.configure.launcher import STEP_NAMES, select
from deploy.configure.models import models
from deploy.configure.monitoring import monitoring
from deploy.configure.nvidia import nvidia
from deploy.configure.ollama import ollama
from deploy.configure.runfast import no_delay, one_read_per_fact
from deploy.configure.security import security
from deploy.configure.update import update
from deploy.configure.vllm import vllm

STEPS: dict[str, Callable[[], None]] = {
    "base": base,
    "security": security,
    "update": update,
    "models": models,
    "nvidia": nvidia,
    "cuda": cuda,
    "vllm": vllm,
    "ollama": ollama,
    "monitoring": monitoring,
}

assert tuple(STEPS) == STEP_NAMES, "the launcher's step names and the @deploy functions must agree"
__all__ = ["STEPS", "run_selected", "select"]


def run_selected() -> None:
    """The steps the host data names (`steps`, from AIMACHINE_STEPS; all by default), in order: the body
    of the deploy files deploy/configure/vm.py and ./deploy.py."""
    no_delay()
    one_read_per_fact()
    for step in select(host.data.get("steps")):
        STEPS[step]()
