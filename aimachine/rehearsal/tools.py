"""The tools `make tools` built (tools/build.sh: Terraform's, and Ollama as its release asset), and a
scratch copy of the Terraform module.

build.sh writes tools.env into its cache (~/.cache/aimachine/tools unless AIMACHINE_TOOLS_DIR): the
binary, and a CLI configuration that installs bpg/proxmox from a local filesystem mirror only, so a
rehearsal (or a test) never reaches a registry. Terraform then runs in a copy of terraform/, never in
the checkout, so its state and plan files stay in the scratch directory."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from aimachine.proxmox.terraform import BIN_ENV, MODULE_DIR


def tools_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("AIMACHINE_TOOLS_DIR") or Path(base) / "aimachine" / "tools")


@dataclass(frozen=True)
class Tools:
    terraform: str
    cli_config: str
    provider_version: str
    ollama_release: str = ""  # DIR/v{version}/{asset} + sha256sum.txt: Ollama built from its Go module
    ollama_binary: str = ""

    def env(self) -> dict[str, str]:
        """What a Terraform run (or aimachine's) needs to use these tools, offline."""
        return {BIN_ENV: self.terraform, "TF_CLI_CONFIG_FILE": self.cli_config,
                "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}


def find_tools() -> tuple[Tools | None, str]:
    """The built tools, or None and why not."""
    summary = tools_dir() / "tools.env"
    if not summary.is_file():
        return None, f"{summary} is missing"
    values = dict(line.split("=", 1) for line in summary.read_text().splitlines() if "=" in line)
    for key in (BIN_ENV, "TF_CLI_CONFIG_FILE", "BPG_PROVIDER_BINARY"):
        if not values.get(key) or not Path(values[key]).exists():
            return None, f"{key} in {summary} names {values.get(key)!r}, which does not exist"
    return Tools(values[BIN_ENV], values["TF_CLI_CONFIG_FILE"], values.get("BPG_PROVIDER_VERSION", ""),
                 values.get("OLLAMA_RELEASE", ""), values.get("OLLAMA_BINARY", "")), ""


def scratch_module(where: Path, source: Path = MODULE_DIR) -> Path:
    """A copy of terraform/ under `where`, without any local .terraform directory or state."""
    module = where / "terraform"
    if not module.exists():
        shutil.copytree(source, module, ignore=shutil.ignore_patterns(
            ".terraform*", "*.tfstate*", "terraform.tfstate.d", "*.tfplan"))
    return module
