"""vllm: a system user, a venv with the pinned vLLM from one index (PyPI by default), vllm.service
sandboxed; it counts as started once /health answers (ExecStartPost), so Ollama starts after it."""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, pip, server

from deploy.configure.common import ensure_packages
from deploy.configure.facts import VenvPackageVersion
from deploy.configure.services import managed_service, service_user
from deploy.guest.rendered import VLLM_VENV, vllm_unit


def pip_install_command(version: str, index_url: str, venv: str = VLLM_VENV) -> str:
    """One index only: vLLM's torch pin (2.13.0, CUDA 13) must come from the same index as vLLM; an
    extra index offering `2.13.0+cu129` would win (a local version sorts higher) and break vLLM."""
    return (f"{venv}/bin/pip install --no-input --index-url {shlex.quote(index_url)} "
            f"{shlex.quote(f'vllm=={version}')}")


@deploy("vllm")
def vllm() -> None:
    cfg = host.data.vm.services.vllm
    # Triton (under vLLM) compiles a small C launcher at the first start: a compiler and Python.h;
    # curl for the unit's health wait
    ensure_packages([f"python{cfg.python}-venv", f"python{cfg.python}-dev", "gcc", "libc6-dev", "curl"],
                    f"Python {cfg.python} venv support, a C compiler for Triton, curl")
    service_user("vllm", cfg.cache_dir)
    files.directory(
        name=f"Model cache {cfg.cache_dir}", path=cfg.cache_dir, user="vllm", group="vllm", mode="750"
    )
    pip.venv(name=f"venv {VLLM_VENV} (Python {cfg.python})", path=VLLM_VENV, python=f"python{cfg.python}")
    # root owns the venv: the service can run its code, never change it
    installed = ()
    if host.get_fact(VenvPackageVersion, venv=VLLM_VENV, package="vllm") != cfg.version:
        installed = (server.shell(name=f"vLLM {cfg.version} in {VLLM_VENV} (from {cfg.index_url})",
                                  commands=[pip_install_command(cfg.version, cfg.index_url)]),)
    managed_service("vllm", [vllm_unit(cfg)], cfg.enabled, also_changed=installed)
