"""Shared test set-up: the network guard, paths, and the `aimachine` runner."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUARD_DIR = Path(__file__).resolve().parent / "netguard"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# The guard applies to this process and, through PYTHONPATH, to every Python subprocess.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(GUARD_DIR), str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
_spec = importlib.util.spec_from_file_location("aimachine_netguard", GUARD_DIR / "sitecustomize.py")
netguard = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(netguard)  # installs the guard in this process

# Lab variables from the developer's shell must never leak into a test. The acceptance tests'
# lab backend (AIMACHINE_LAB=1) gets them explicitly, from LAB_ENV.
_LAB_VARS = ("PROXMOX_VE_ENDPOINT", "PROXMOX_VE_API_TOKEN", "PROXMOX_VE_INSECURE", "PROXMOX_VE_USERNAME",
             "PROXMOX_VE_PASSWORD")
LAB_ENV = ({v: os.environ[v] for v in _LAB_VARS if v in os.environ}
           if os.environ.get("AIMACHINE_LAB") == "1" else {})
for _var in (*_LAB_VARS, "AIMACHINE_LAB", "AIMACHINE_CATALOG"):
    os.environ.pop(_var, None)


def aimachine_bin() -> str:
    """The installed console script next to this interpreter."""
    return str(Path(sys.executable).with_name("aimachine"))


def run_aimachine(*args: str, env: dict | None = None, cwd: Path | str = ROOT,
                  timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the real `aimachine` console script; output as text."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([aimachine_bin(), *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def invoke_aimachine(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """`aimachine` in this process (click's CliRunner): the same command line, exit code and output as
    the console script, but the code runs here, where coverage and mutation testing see it."""
    from click.testing import CliRunner

    from aimachine.cli.main import cli

    saved = os.environ.get("AIMACHINE_STATE_DIR")
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    # the --catalog callback sets it beside the catalog for this run only
    if saved is None:
        os.environ.pop("AIMACHINE_STATE_DIR", None)
    else:
        os.environ["AIMACHINE_STATE_DIR"] = saved
    return subprocess.CompletedProcess(["aimachine", *args], result.exit_code, result.stdout, result.stderr)


ADMIN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGFkbWlua2V5Zm9ydGVzdHNvbmx5MDAwMDAwMDAwMDAw admin@lab\n"


@pytest.fixture
def admin_home(tmp_path, monkeypatch) -> Path:
    """HOME with the key the shipped catalog names (~/.ssh/id_ed25519.pub), as an admin's machine has it."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519.pub").write_text(ADMIN_KEY)
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def shipped_catalog_text() -> str:
    return (ROOT / "catalog.yml").read_text()


from tests.pve_sim.fixture import pve_sim  # noqa: E402,F401 (the Proxmox VE simulator fixture)


@pytest.fixture(autouse=True)
def _no_state_dir_leaks(monkeypatch, tmp_path_factory):
    """In-process CLI runs set AIMACHINE_STATE_DIR beside their catalog; it must not outlive the test. Code
    called directly (rollback, destroy) writes its state under a scratch directory, never the checkout's
    .aimachine/."""
    monkeypatch.setenv("AIMACHINE_STATE_DIR", str(tmp_path_factory.mktemp("state")))
