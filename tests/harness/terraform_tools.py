"""The real Terraform (or OpenTofu) and bpg/proxmox provider for tests, as tools/build.sh left them.

build.sh writes tools.env into its cache (~/.cache/aimachine/tools unless AIMACHINE_TOOLS_DIR): the
binary, and a CLI configuration that installs bpg/proxmox from a local filesystem mirror only, so no
test ever reaches a registry. Tests run Terraform in a scratch copy of terraform/ (never in the
checkout). Where the tools are missing a test skips naming `make tools`, except in CI, which builds
them first: there it fails."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.terraform_module import TF_DIR


def tools_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("AIMACHINE_TOOLS_DIR") or Path(base) / "aimachine" / "tools")


@dataclass(frozen=True)
class Tools:
    terraform: str
    cli_config: str
    provider_version: str

    def env(self) -> dict[str, str]:
        """What a Terraform run (or aimachine's) needs to use these tools, offline."""
        return {"AIMACHINE_TERRAFORM": self.terraform, "TF_CLI_CONFIG_FILE": self.cli_config,
                "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}


def find_tools() -> tuple[Tools | None, str]:
    """The built tools, or None and why not."""
    summary = tools_dir() / "tools.env"
    if not summary.is_file():
        return None, f"{summary} is missing"
    values = dict(line.split("=", 1) for line in summary.read_text().splitlines() if "=" in line)
    for key in ("AIMACHINE_TERRAFORM", "TF_CLI_CONFIG_FILE", "BPG_PROVIDER_BINARY"):
        if not values.get(key) or not Path(values[key]).exists():
            return None, f"{key} in {summary} names {values.get(key)!r}, which does not exist"
    return Tools(values["AIMACHINE_TERRAFORM"], values["TF_CLI_CONFIG_FILE"],
                 values.get("BPG_PROVIDER_VERSION", "")), ""


def require_tools() -> Tools:
    """The tools, or skip (fail in CI) saying how to build them."""
    tools, why = find_tools()
    if tools is not None:
        return tools
    message = f"the real Terraform and bpg/proxmox provider are not built ({why}): run `make tools`"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (.ci/run builds them before the tests)")
    pytest.skip(reason=message)


def scratch_module(where: Path) -> Path:
    """A copy of terraform/ under `where`, without any local .terraform directory or state."""
    module = where / "terraform"
    if not module.exists():
        shutil.copytree(TF_DIR, module, ignore=shutil.ignore_patterns(
            ".terraform*", "*.tfstate*", "terraform.tfstate.d", "*.tfplan"))
    return module
