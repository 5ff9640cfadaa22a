"""aimachine installed as a user installs it: a wheel built from the project, put into a fresh venv outside
the checkout (its dependencies from the wheelhouse `make wheelhouse` fills, never a registry), run from
another directory. The Terraform module, the templates and pyinfra's files come from the installed package;
a lookup through the checkout (`Path(__file__).parents[2]`) would fail here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import GUARD_DIR, ROOT
from tests.harness.terraform_tools import require_tools


def wheelhouse() -> Path:
    found = Path(os.environ.get("AIMACHINE_WHEELHOUSE") or Path.home() / ".cache" / "aimachine" / "wheels")
    if not (found / ".filled").is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{found} is not filled: `make wheelhouse` (make test runs it) must run first")
        pytest.skip(f"{found} is not filled: run `make wheelhouse`")
    return found


def outside_the_checkout(env: dict | None = None) -> dict:
    """The environment without the checkout on PYTHONPATH (the tests put it there): only the network
    guard stays, so nothing is imported or found installed from the checkout."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = str(GUARD_DIR)
    return env


def _run(*argv: str | Path, cwd: Path, env: dict | None = None, timeout: float = 600):
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env=outside_the_checkout(env), capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A venv outside the checkout with the project's wheel installed; returns the venv."""
    house = wheelhouse()
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"  # a copy: building in the checkout would leave build/ behind there
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".aimachine", "__pycache__", "*.egg-info", "build", "mutants", "/terraform"))
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-index", "--find-links", house,
         "-w", work / "dist", source, cwd=work)
    (wheel,) = (work / "dist").glob("aimachine-*.whl")
    venv = work / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=work)
    _run(venv / "bin" / "pip", "install", "-q", "--no-index", "--find-links", house, wheel, cwd=work)
    return venv


def test_the_wheel_carries_what_the_commands_read(installed: Path) -> None:
    where = _run(installed / "bin" / "python", "-c",
                 "import aimachine, aimachine.proxmox.terraform as t, aimachine.configure.launcher as l; "
                 "print(aimachine.__file__); print(sorted(p.name for p in t.MODULE_DIR.glob('*.tf'))); "
                 "print(l.INVENTORY.is_file(), l.DEPLOY_FILE.is_file())", cwd=installed.parent).stdout
    package, module, pyinfra_files = where.splitlines()
    assert package.startswith(str(installed)), "the installed package, not the checkout"
    assert module == "['catalog.tf', 'main.tf', 'outputs.tf', 'variables.tf', 'versions.tf']"
    assert pyinfra_files == "True True"


def test_rehearse_from_another_directory_with_the_installed_wheel(installed: Path, tmp_path: Path) -> None:
    tools = require_tools()
    catalog = tmp_path / "my-catalog.yml"
    shutil.copy(ROOT / "catalog.yml", catalog)
    env = {**os.environ, **tools.env(), "PATH": f"{installed / 'bin'}:{os.environ['PATH']}"}
    env.pop("AIMACHINE_TERRAFORM_DIR", None)
    done = _run(installed / "bin" / "aimachine", "rehearse", "vm-llm-aimachine", "--no-guest",
                "--catalog", catalog, cwd=tmp_path, env=env)
    assert "rehearse vm-llm-aimachine: done" in done.stdout, done.stdout[-2000:]
    assert "[4/7] provision ok" in done.stdout
    assert "not rehearsed: configure, verify (--no-guest)" in done.stdout
