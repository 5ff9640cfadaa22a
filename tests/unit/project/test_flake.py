"""The Nix pin: flake.lock is exactly what `nix flake lock` writes for the agreed nixpkgs commit.

No machine here can run `nix develop` (no network to fetch nixpkgs), so this test is the check.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

PIN = {
    "lastModified": 1786711500,
    "narHash": "sha256-QvnceIGTBeDvDd9oCn+GvdsnkquliuwbVgpiRH68qaQ=",
    "owner": "NixOS",
    "repo": "nixpkgs",
    "rev": "02e08985a27c65ffd33d434eeb2e660a2e4dc84d",
    "type": "github",
}

FLAKE = (ROOT / "flake.nix").read_text()
LOCK_TEXT = (ROOT / "flake.lock").read_text()
LOCK = json.loads(LOCK_TEXT)


def flake_input_url() -> str:
    match = re.search(r'inputs\.nixpkgs\.url\s*=\s*"([^"]+)"', FLAKE)
    assert match, "flake.nix has no inputs.nixpkgs.url"
    return match.group(1)


def parse_github_ref(url: str) -> dict:
    """'github:OWNER/REPO/REF' as Nix records it in a lock's `original`."""
    match = re.fullmatch(r"github:([^/]+)/([^/]+)(?:/([^?]+))?", url)
    assert match, f"not a github flake ref: {url}"
    owner, repo, ref = match.groups()
    out = {"owner": owner, "repo": repo, "type": "github"}
    if ref:
        out["ref"] = ref
    return out


def test_lock_is_version_7_with_one_nixpkgs_node():
    assert LOCK["version"] == 7
    assert LOCK["root"] == "root"
    assert set(LOCK["nodes"]) == {"root", "nixpkgs"}
    assert LOCK["nodes"]["root"] == {"inputs": {"nixpkgs": "nixpkgs"}}


def test_lock_pins_the_verified_commit():
    assert LOCK["nodes"]["nixpkgs"]["locked"] == PIN


def test_lock_original_matches_flake_input():
    assert LOCK["nodes"]["nixpkgs"]["original"] == parse_github_ref(flake_input_url())
    assert LOCK["nodes"]["nixpkgs"]["original"]["ref"] == "nixos-26.05"


def test_lock_is_formatted_as_nix_writes_it():
    assert json.dumps(LOCK, indent=2, sort_keys=True) + "\n" == LOCK_TEXT


def test_terraform_is_allowed_by_name_only():
    assert not re.search(r"allowUnfree\s*=\s*true", FLAKE)
    assert re.search(r"allowUnfreePredicate.*\[\s*\"terraform\"\s*\]", FLAKE)
    for tool in ("pkgs.terraform", "python312", "gnumake", "openssh"):
        assert tool in FLAKE


def test_dev_shell_installs_the_project_like_the_readme():
    assert "make --no-print-directory setup" in FLAKE


@pytest.mark.skipif(shutil.which("nix") is None, reason="nix is not installed on this machine")
def test_nix_flake_metadata_reads_the_lock():
    result = subprocess.run(["nix", "flake", "metadata", "--json", "--offline", str(ROOT)],
                            capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0 and "network" in result.stderr.lower():
        pytest.skip(f"nix needs the network to fetch nixpkgs: {result.stderr.strip()[:200]}")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["locks"]["nodes"]["nixpkgs"]["locked"]["rev"] == PIN["rev"]
