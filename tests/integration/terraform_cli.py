"""Running the terraform binary in tests: the tool set tools/build.sh built, offline, in a scratch
directory, never the registry."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.harness.terraform_tools import require_tools
from tests.integration.terraform_module import TF_DIR


def terraform_bin() -> str:
    """The pinned tool set's Terraform (or OpenTofu); skips, or fails in CI, when it is not built."""
    return require_tools().terraform


def offline_env(scratch: Path) -> dict[str, str]:
    """Terraform's environment: providers from the local mirror only, no version check, no lab
    variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "PROXMOX_VE_"))}
    return {**env, **require_tools().env()}


def run(args: list[str], cwd: Path, env: dict[str, str], stdin: str = "",
        timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([terraform_bin(), *args], cwd=cwd, env=env, input=stdin, capture_output=True,
                          text=True, timeout=timeout, check=False)


# What aimachine/terraform/catalog.tf resolves, as JSON through `terraform console`.
_RESOLVED = ("jsonencode({vm = local.vm, proxmox = local.proxmox, storages = local.storages, "
             "node = local.node, gpu_by_mapping = local.gpu_by_mapping, "
             "image_in_import = local.image_in_import, matches = length(local.matches)})")


def resolve_catalog_in_terraform(tmp_path: Path, catalog: Path, vm_name: str) -> dict:
    """The VM and host settings aimachine/terraform/catalog.tf resolves from `catalog` (needs no provider)."""
    module = tmp_path / "catalog-module"
    module.mkdir(exist_ok=True)
    for name in ("variables.tf", "catalog.tf"):  # no provider needed: runs offline
        shutil.copy(TF_DIR / name, module / name)
    env = offline_env(tmp_path)
    init = run(["init", "-backend=false", "-input=false", "-no-color"], module, env)
    assert init.returncode == 0, init.stderr
    result = run(["console", "-no-color", f"-var=catalog_path={catalog}", f"-var=vm_name={vm_name}"],
                 module, env, stdin=_RESOLVED + "\n")
    assert result.returncode == 0, result.stderr
    return json.loads(json.loads(result.stdout.strip()))
