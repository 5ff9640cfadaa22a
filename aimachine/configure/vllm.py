"""vllm: a system user, a venv with the pinned vLLM from one index (PyPI by default), vllm.service
sandboxed; it counts as started once /health answers (ExecStartPost), so Ollama starts after it. The
model is on disk by then: fetched in the background since the models step, awaited here."""

from __future__ import annotations

import re
import shlex

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import pip, server

from aimachine.catalog.pins import toolkit_major
from aimachine.configure.common import ensure_packages
from aimachine.configure.facts import VenvVersions
from aimachine.configure.launcher import select
from aimachine.configure.models import model_missing, start_model_fetch, vllm_home, wait_for_model
from aimachine.configure.ollama import make_room_for_vllm
from aimachine.configure.services import managed_service
from aimachine.guest.apt_calls import vllm_packages
from aimachine.guest.rendered import VLLM_VENV, vllm_unit


def pip_install_args(venv: str, index_url: str, *args: str) -> str:
    """`pip install ARGS` in VENV from one index only (the gateway's step too): vLLM's torch pin (2.13.0,
    CUDA 13) must come from the same index as vLLM; an extra index offering `2.13.0+cu129` would win (a
    local version sorts higher) and break vLLM."""
    return " ".join([f"{venv}/bin/pip install --no-input --index-url", shlex.quote(index_url),
                     *map(shlex.quote, args)])


def pip_install_command(version: str, index_url: str, venv: str = VLLM_VENV) -> str:
    return pip_install_args(venv, index_url, f"vllm=={version}")


def foreign_torch(version: str | None, cuda_major: int) -> str | None:
    """A torch built for another CUDA major than vLLM's (`2.13.0+cu129`, as the former extra PyTorch
    index installed, beside CUDA 13): its public version, to reinstall from the index; None otherwise.
    `torch==2.13.0` is satisfied by `2.13.0+cu129`, so pip alone would never replace it."""
    found = re.fullmatch(r"(?P<public>[^+]+)\+cu(?P<cuda>\d+)\d", version or "")
    return found["public"] if found and int(found["cuda"]) != cuda_major else None


def torch_reinstall_command(version: str, index_url: str, venv: str = VLLM_VENV) -> str:
    return pip_install_args(venv, index_url, "--force-reinstall", "--no-deps", f"torch=={version}")


@deploy("vllm")
def vllm() -> None:
    cfg = host.data.vm.services.vllm
    ensure_packages(vllm_packages(cfg.python),
                    f"Python {cfg.python} venv support, a C compiler for Triton, curl")
    vllm_home(cfg)
    pip.venv(name=f"venv {VLLM_VENV} (Python {cfg.python})", path=VLLM_VENV, python=f"python{cfg.python}")
    # root owns the venv: the service can run its code, never change it
    installed = ()
    versions = host.get_fact(VenvVersions, venv=VLLM_VENV, packages=("vllm", "torch"))
    if versions.get("vllm") != cfg.version:
        installed = (server.shell(name=f"vLLM {cfg.version} in {VLLM_VENV} (from {cfg.index_url})",
                                  commands=[pip_install_command(cfg.version, cfg.index_url)]),)
    elif torch := foreign_torch(versions.get("torch"), toolkit_major(host.data.vm.nvidia.cuda_toolkit)):
        installed = (server.shell(
            name=f"Replace torch {versions['torch']} with {torch} from {cfg.index_url} (vLLM needs its CUDA)",
            commands=[torch_reinstall_command(torch, cfg.index_url)]),)
    if model_missing(cfg):  # started by the models step; the wait comes as late as it can
        if "models" not in select(host.data.get("steps")):
            start_model_fetch(cfg)
        wait_for_model(name=f"Wait for the download of {cfg.model} (in the background since the models step)",
                       vllm=cfg)
    managed_service("vllm", [vllm_unit(cfg)], cfg.enabled, also_changed=installed,
                    around_restart=make_room_for_vllm(host.data.vm.services))
