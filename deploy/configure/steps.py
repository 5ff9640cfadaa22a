"""The configuration steps by name, in the order they run."""

from __future__ import annotations

from collections.abc import Callable

from deploy.configure.base import base
from deploy.configure.cuda import cuda
from deploy.configure.monitoring import monitoring
from deploy.configure.nvidia import nvidia
from deploy.configure.ollama import ollama
from deploy.configure.security import security
from deploy.configure.vllm import vllm

# security first: the firewall and sshd are hardened before any service listens
STEPS: dict[str, Callable[[], None]] = {
    "base": base,
    "security": security,
    "nvidia": nvidia,
    "cuda": cuda,
    "vllm": vllm,
    "ollama": ollama,
    "monitoring": monitoring,
}


def select(names: str | None) -> list[str]:
    """A comma list of step names (None or empty: all), in the canonical order; unknown names raise."""
    if not names:
        return list(STEPS)
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in STEPS]
    if unknown:
        raise ValueError(f"unknown configuration step {', '.join(unknown)}; known: {', '.join(STEPS)}")
    return [n for n in STEPS if n in wanted]
