"""`make help` lists every target with a one-line description; lab targets fail fast without credentials."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.lint

MAKEFILE = (ROOT / "Makefile").read_text()


def make(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})}, check=False)


def declared_targets() -> set[str]:
    return set(re.findall(r"^([a-zA-Z0-9_-]+):", MAKEFILE, flags=re.M))


def test_help_is_the_default_and_lists_every_target():
    result = make()
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert listed == declared_targets()
    for line in result.stdout.splitlines():
        name, _, text = line.strip().partition(" ")
        assert text.strip(), f"target {name} has no description"


def test_lab_target_names_the_missing_variables():
    env = {k: "" for k in ("PROXMOX_VE_ENDPOINT", "PROXMOX_VE_API_TOKEN")}
    result = make("deploy-vm-llm-aimachine", env=env)
    assert result.returncode != 0
    assert "PROXMOX_VE_ENDPOINT" in result.stderr and "PROXMOX_VE_API_TOKEN" in result.stderr
