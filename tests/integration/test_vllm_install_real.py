"""vLLM installed for real with pip into a venv, from one index of a mirror laid out as PyPI and
download.pytorch.org publish (aimachine/rehearsal/payloads.py): the configuration's own pip command, the
extra index of old catalogs breaking it as upstream reports, and the VenvVersions fact's command. Slow
(venvs and pip): the integration tier."""

from __future__ import annotations

import os
import subprocess
import venv
from pathlib import Path

import pytest

from aimachine.configure.vllm import pip_install_command
from aimachine.rehearsal.payloads import build_mirror


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Path:
    return build_mirror(tmp_path_factory.mktemp("mirror"), "0.32.0", "0.32.15")


def _venv(path: Path) -> Path:
    venv.create(path, with_pip=True)
    return path


def _pip_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("PIP_FIND_LINKS")}


def test_one_index_gives_vllm_its_cuda_13_torch_and_it_starts(mirror, tmp_path):
    env = _venv(tmp_path / "venv")
    done = subprocess.run(["bash", "-c", pip_install_command("0.32.0", f"file://{mirror}/simple", str(env))],
                          capture_output=True, text=True, env=_pip_env())
    assert done.returncode == 0, done.stdout + done.stderr
    torch = subprocess.run([env / "bin" / "python", "-c", "import torch; print(torch.version.__version__)"],
                           capture_output=True, text=True)
    assert torch.stdout.strip() == "2.13.0"
    served = subprocess.Popen([env / "bin" / "vllm", "serve", "m", "--host", "127.0.0.1", "--port", "0"],
                              stderr=subprocess.PIPE, text=True)
    try:
        assert served.wait(timeout=4) is None
    except subprocess.TimeoutExpired:
        pass  # still serving: it started
    finally:
        served.kill()
        served.wait()


def test_the_extra_cu129_index_of_old_catalogs_breaks_vllm_as_upstream_reports(mirror, tmp_path):
    """What the retired torch_index_url did: pip prefers torch 2.13.0+cu129 (a local version sorts
    higher), and vLLM fails on libcudart.so.13 (vllm PR #47628)."""
    env = _venv(tmp_path / "venv")
    subprocess.run([env / "bin" / "pip", "install", "-q", "--no-input", "--index-url", f"file://{mirror}/simple",
                    "--extra-index-url", f"file://{mirror}/whl/cu129", "vllm==0.32.0"], check=True,
                   capture_output=True, env=_pip_env())
    failed = subprocess.run([env / "bin" / "vllm", "serve", "m", "--host", "127.0.0.1", "--port", "0"],
                            capture_output=True, text=True, timeout=30)
    assert failed.returncode == 1
    assert "libcudart.so.13: cannot open shared object file" in failed.stderr


def test_the_venv_versions_fact_command_runs_against_a_real_venv(mirror, tmp_path):
    """The fact's command in a venv with the stand-in vllm and torch: what it prints is what it parses."""
    from aimachine.configure.facts import VenvVersions

    env = _venv(tmp_path / "venv")
    subprocess.run(["bash", "-c", pip_install_command("0.32.0", f"file://{mirror}/simple", str(env))],
                   check=True, capture_output=True, env=_pip_env())
    fact = VenvVersions()
    printed = subprocess.run(["sh", "-c", fact.command(str(env), ("vllm", "torch", "absent"))],
                             capture_output=True, text=True).stdout
    assert fact.process(printed.splitlines()) == {"vllm": "0.32.0", "torch": "2.13.0"}
    assert fact.process(subprocess.run(["sh", "-c", fact.command(str(tmp_path / "none"), ("vllm",))],
                                       capture_output=True, text=True).stdout.splitlines()) == {}
