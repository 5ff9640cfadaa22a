"""tools/build.sh, the pinned Terraform tool set: a warm run builds nothing; without Go it says what it
would have built. (A cold build reaches the Go module proxy, which tests never do: CI runs it before the
tests, and the Terraform tests then use what it built.)"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.conftest import ROOT
from tests.harness.terraform_tools import require_tools, tools_dir

BUILD = ROOT / "tools" / "build.sh"


def _pins() -> dict[str, str]:
    lines = (ROOT / "tools" / "pins.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def test_a_warm_run_builds_nothing() -> None:
    require_tools()
    started = time.monotonic()
    result = subprocess.run([str(BUILD)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 15
    assert "building" not in result.stderr
    assert f"bpg/proxmox {_pins()['BPG_PROVIDER_VERSION']}: " in result.stderr and "(cached)" in result.stderr
    summary = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert summary["TF_CLI_CONFIG_FILE"] == str(tools_dir() / "terraform.tfrc")
    version = _pins()["BPG_PROVIDER_VERSION"]
    assert summary["BPG_PROVIDER_BINARY"].endswith(
        f"providers/registry.terraform.io/bpg/proxmox/{version}/linux_amd64/terraform-provider-proxmox_v{version}")


def test_without_go_it_names_what_it_needs(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": "/usr/bin:/bin", "AIMACHINE_TOOLS_DIR": str(tmp_path / "tools")}
    result = subprocess.run([str(BUILD)], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 1
    assert "Go is not installed" in result.stderr
    assert f"{_pins()['BPG_PROVIDER_MODULE']}@v{_pins()['BPG_PROVIDER_VERSION']}" in result.stderr
    assert not (tmp_path / "tools").exists() or not any((tmp_path / "tools").rglob("terraform-provider-*"))


def test_one_place_pins_the_versions() -> None:
    pins = _pins()
    assert pins["BPG_PROVIDER_VERSION"] == "0.111.1"
    tf = (ROOT / "terraform" / "versions.tf").read_text()
    assert '"~> 0.111"' in tf, "the module's constraint admits the pinned provider"
    assert "0.111.1" not in BUILD.read_text(), "build.sh reads the versions, it does not repeat them"
