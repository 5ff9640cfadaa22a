"""gateway: LiteLLM's proxy on the VM the catalog names in `gateway.vm` (no operation on any other VM, nor
without a gateway): a system user, a venv with the pinned LiteLLM from one index, its config, the master key's
EnvironmentFile and aimachine-gateway.service, restarted when any of them changed.

The key is read on the admin's machine (gateway.master_key_file) when the deploy is planned and goes to the VM
as an in-memory file: it is in no operation's name, no command line, no fact, and pyinfra prints nothing of an
uploaded file's content unless run with --diff, which `aimachine configure` never passes (a run with it stops
before the key is read)."""

from __future__ import annotations

from pyinfra import host, state
from pyinfra.api import deploy
from pyinfra.operations import files, pip, server

from aimachine.catalog.gateway import LITELLM_PYTHON, KeyFileError, litellm_requirements, read_master_key
from aimachine.catalog.schema import Gateway
from aimachine.configure.common import ensure_packages, put_files, stop
from aimachine.configure.facts import VenvVersions
from aimachine.configure.services import managed_service, service_user
from aimachine.configure.vllm import pip_install_args
from aimachine.guest.rendered import (
    GATEWAY_CONFIG,
    GATEWAY_HOME,
    GATEWAY_USER,
    GATEWAY_VENV,
    gateway_config,
    gateway_key_env,
    gateway_unit,
)

SERVICE = "aimachine-gateway"


def gateway_packages(python: str) -> list[str]:
    """Its venv's Python; curl for the unit's health wait."""
    return [f"python{python}-venv", "curl"]


def pip_install_command(version: str, index_url: str, venv: str = GATEWAY_VENV) -> str:
    """LiteLLM and its proxy's requirements (catalog/gateway.py litellm_requirements), from one index."""
    return pip_install_args(venv, index_url, *litellm_requirements(version))


@deploy("gateway")
def gateway() -> None:
    cfg: Gateway | None = host.data.vm.runs_gateway
    if cfg is None:  # not the gateway's VM, or no gateway in the catalog
        return
    if state.config.DIFF:  # --diff would print the key file's old and new content
        stop("the gateway step writes the master key: run it without pyinfra's --diff")
        return
    try:
        key = read_master_key(cfg.master_key_file or "")
    except KeyFileError as err:
        stop(f"gateway.master_key_file: {err}")
        return
    python = LITELLM_PYTHON  # noble's python3
    ensure_packages(gateway_packages(python), f"Python {python} venv support, curl")
    service_user(GATEWAY_USER, GATEWAY_HOME, gpu=False)
    pip.venv(name=f"venv {GATEWAY_VENV} (Python {python})", path=GATEWAY_VENV, python=f"python{python}")
    # root owns the venv: the service can run its code, never change it
    installed = ()
    versions = host.get_fact(VenvVersions, venv=GATEWAY_VENV, packages=("litellm",))
    if versions.get("litellm") != cfg.litellm_version:
        installed = (server.shell(
            name=f"LiteLLM {cfg.litellm_version} (proxy) in {GATEWAY_VENV} (from {cfg.index_url})",
            commands=[pip_install_command(cfg.litellm_version, cfg.index_url)]),)
    config_dir = GATEWAY_CONFIG.rsplit("/", 1)[0]
    files.directory(name=f"Directory {config_dir}", path=config_dir, user="root", group="root", mode="755")
    # the config and the key first, the unit with managed_service: a change to any restarts the gateway
    written = put_files([gateway_config(cfg), gateway_key_env(key)])
    managed_service(SERVICE, [gateway_unit(cfg)], True, also_changed=(*written, *installed))
