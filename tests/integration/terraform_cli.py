"""Running the terraform binary in tests: offline, in a scratch directory, never the registry."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

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
