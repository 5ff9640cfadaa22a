"""vllm: a system user, a venv with the pinned vLLM from the catalog's index, vllm.service sandboxed."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, pip

from deploy.configure.common import ensure_packages
from deploy.configure.services import managed_service, service_user
from deploy.guest.rendered import VLLM_VENV, vllm_unit


def pip_index_args(index_url: str, torch_index_url: str) -> str:
    """Both indexes come from the catalog, so a local mirror (air-gapped homelab) works."""
    args = f"--index-url {index_url}"
    if torch_index_url != index_url:
        args += f" --extra-index-url {torch_index_url}"
    return args


@deploy("vllm")
def vllm() -> None:
    cfg = host.data.vm.services.vllm
    # Triton (under vLLM) compiles a small C launcher at the first start: a compiler and Python.h
    ensure_packages([f"python{cfg.python}-venv", f"python{cfg.python}-dev", "gcc", "libc6-dev"],
                    f"Python {cfg.python} venv support and a C compiler for Triton")
    service_user("vllm", cfg.cache_dir)
    files.directory(
        name=f"Model cache {cfg.cache_dir}", path=cfg.cache_dir, user="vllm", group="vllm", mode="750"
    )
    pip.venv(name=f"venv {VLLM_VENV} (Python {cfg.python})", path=VLLM_VENV, python=f"python{cfg.python}")
    # root owns the venv: the service can run its code, never change it
    installed = pip.packages(
        name=f"vLLM {cfg.version} in {VLLM_VENV}",
        packages=[f"vllm=={cfg.version}"],
        pip=f"{VLLM_VENV}/bin/pip",
        extra_install_args=pip_index_args(cfg.index_url, cfg.torch_index_url),
    )
    managed_service("vllm", [vllm_unit(cfg)], cfg.enabled, also_changed=(installed,))
