"""`aimachine tools`: build, once per machine, the pinned Terraform tool set (the script the package ships,
aimachine/tools/build.sh; `make tools` in a checkout runs the same)."""

from __future__ import annotations

import subprocess
import sys

import click

from aimachine.packaged import packaged


@click.command("tools")
def tools_command() -> None:
    """Build the pinned bpg/proxmox provider (and OpenTofu without Terraform >= 1.5) into
    ~/.cache/aimachine/tools; a second run builds nothing. Needs Go >= 1.26."""
    done = subprocess.run(["bash", str(packaged("tools", "build.sh"))], check=False)
    sys.exit(done.returncode)
