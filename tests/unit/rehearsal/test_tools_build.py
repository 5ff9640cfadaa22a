"""tools/build.sh, the pinned Terraform tool set: a warm run builds nothing; without Go it says what it
would have built. (A cold build reaches the Go module proxy, which tests never do: CI runs it before the
tests, and the Terraform tests then use what it built.)"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import ROOT
from tests.harness.terraform_tools import require_tools, tools_dir

BUILD = ROOT / "tools" / "build.sh"


def _pins() -> dict[str, str]:
    lines = (ROOT / "aimachine" / "tools" / "pins.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def test_a_warm_run_builds_nothing() -> None:
    require_tools()
    result = subprocess.run([str(BUILD)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
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
    tf = (ROOT / "aimachine" / "terraform" / "versions.tf").read_text()
    assert '"~> 0.111"' in tf, "the module's constraint admits the pinned provider"
    assert "0.111.1" not in BUILD.read_text(), "build.sh reads the versions, it does not repeat them"


# A stand-in `go`: `go env`, `go mod download -json` (the module's Dir in Go's own JSON layout) and a
# `go build -o OUT` that takes a moment, so two runs overlap in it.
FAKE_GO = """#!/bin/sh
case "$1" in
  env) [ "$2" = GOOS ] && echo linux || echo amd64 ;;
  mod) mkdir -p "$FAKE_GO_MODS/m" && printf '{\\n\\t"Dir": "%s",\\n}\\n' "$FAKE_GO_MODS/m" ;;
  build) shift; while [ "$1" != -o ]; do shift; done; sleep 1; printf '#!/bin/sh\\n' > "$2"; chmod +x "$2" ;;
  *) exit 2 ;;
esac
"""


def test_two_runs_at_once_both_succeed(tmp_path: Path) -> None:
    """They raced on one temporary path (`$output.tmp`): the second `mv` found it gone and failed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "go").write_text(FAKE_GO)
    (bin_dir / "go").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin", "AIMACHINE_TOOLS_DIR": str(tmp_path / "tools"),
           "FAKE_GO_MODS": str(tmp_path / "mods")}
    runs = [subprocess.Popen([str(BUILD)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    results = [(run.wait(timeout=120), *run.communicate()) for run in runs]
    assert [code for code, _, _ in results] == [0, 0], results
    assert results[0][1] == results[1][1], "both print the same tool set"
    tools = tmp_path / "tools"
    files = sorted(str(p.relative_to(tools)) for p in tools.rglob("*") if p.is_file())
    version, ollama = _pins()["BPG_PROVIDER_VERSION"], _pins()["OLLAMA_VERSION"]
    assert files == [".build.lock", f"ollama-{ollama}/bin/ollama",
                     f"ollama-{ollama}/release/v{ollama}/ollama-linux-amd64.tar.zst",
                     f"ollama-{ollama}/release/v{ollama}/sha256sum.txt",
                     f"opentofu-{_pins()['OPENTOFU_VERSION']}/tofu",
                     f"providers/registry.opentofu.org/bpg/proxmox/{version}/linux_amd64/"
                     f"terraform-provider-proxmox_v{version}",
                     f"providers/registry.terraform.io/bpg/proxmox/{version}/linux_amd64/"
                     f"terraform-provider-proxmox_v{version}",
                     "terraform.tfrc", "tools.env"], "nothing half-written or temporary is left"
    # Ollama as its release publishes it: the asset checks against sha256sum.txt's `HASH  ./NAME` line
    release = tools / f"ollama-{ollama}" / "release" / f"v{ollama}"
    checked = subprocess.run(["sha256sum", "-c", "--strict", "sha256sum.txt"], cwd=release,
                             capture_output=True, text=True)
    assert checked.returncode == 0 and "./ollama-linux-amd64.tar.zst: OK" in checked.stdout, checked
    listing = subprocess.run(["tar", "--zstd", "-tf", str(release / "ollama-linux-amd64.tar.zst")],
                             capture_output=True, text=True, check=True).stdout.split()
    assert listing == ["bin/", "bin/ollama", "lib/", "lib/ollama/"]
