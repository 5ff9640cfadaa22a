"""Running the terraform binary in tests: offline, in a scratch directory, never the registry."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from tests.integration.terraform_module import TF_DIR

# Where a provider may already be on this machine (Terraform's implied local mirror directories,
# the plugin cache, or a mirror named for the tests); the registry itself is never asked.
_MIRRORS = ["~/.terraform.d/plugins", "~/.local/share/terraform/plugins",
            "/usr/local/share/terraform/plugins", "/usr/share/terraform/plugins"]


def terraform_bin() -> str | None:
    return shutil.which("terraform")


def mirror_dirs() -> list[Path]:
    named = [os.environ.get("AIMACHINE_TF_PROVIDER_MIRROR"), os.environ.get("TF_PLUGIN_CACHE_DIR")]
    found = [Path(p).expanduser() for p in [*_MIRRORS, *named] if p]
    return [p for p in found if p.is_dir()]


def offline_env(scratch: Path) -> dict[str, str]:
    """Terraform's environment with providers from local mirrors only and no version check."""
    mirrors = mirror_dirs() or [scratch / "empty-mirror"]
    for path in mirrors:
        path.mkdir(parents=True, exist_ok=True)
    config = scratch / "offline.tfrc"
    entries = "".join(f'  filesystem_mirror {{\n    path = "{p}"\n  }}\n' for p in mirrors)
    config.write_text(f"provider_installation {{\n{entries}}}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "PROXMOX_VE_"))}
    return {**env, "TF_CLI_CONFIG_FILE": str(config), "CHECKPOINT_DISABLE": "1",
            "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}


def run(args: list[str], cwd: Path, env: dict[str, str], stdin: str = "",
        timeout: float = 60) -> subprocess.CompletedProcess:
    binary = terraform_bin()
    assert binary, "callers skip when terraform is not on PATH"
    return subprocess.run([binary, *args], cwd=cwd, env=env, input=stdin, capture_output=True,
                          text=True, timeout=timeout, check=False)


# What terraform/catalog.tf resolves, as JSON through `terraform console`.
_RESOLVED = ("jsonencode({vm = local.vm, proxmox = local.proxmox, storages = local.storages, "
             "node = local.node, gpu_by_mapping = local.gpu_by_mapping, "
             "image_in_import = local.image_in_import, matches = length(local.matches)})")


def resolve_catalog_in_terraform(tmp_path: Path, catalog: Path, vm_name: str) -> dict:
    """The VM and host settings terraform/catalog.tf resolves from `catalog` (needs no provider)."""
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
