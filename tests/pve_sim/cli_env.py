"""Test set-up around the simulator: a catalog pointing at it, stand-in ssh and terraform on PATH."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.pve_sim.fixture import ROOT, PveSim

HERE = Path(__file__).resolve().parent
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZha2VrZXlmb3J0ZXN0c29ubHkwMDAwMDAwMDAwMDA test@aimachine"


def write_catalog(tmp: Path, endpoint: str = "https://192.168.0.19:8006") -> Path:
    """The shipped catalog, its key file replaced by one in `tmp` (the endpoint stays the real one:
    the tool must use PROXMOX_VE_ENDPOINT, never the catalog's address, to reach the API)."""
    key = tmp / "id_test.pub"
    key.write_text(PUBLIC_KEY + "\n")
    (tmp / "id_test").write_text("not a real private key\n")
    text = (ROOT / "catalog.yml").read_text().replace("~/.ssh/id_ed25519.pub", str(key))
    path = tmp / "catalog.yml"
    path.write_text(text.replace("https://192.168.0.19:8006", endpoint))
    return path


def cli_env(sim: PveSim, tmp: Path, **extra: str) -> dict[str, str]:
    """Environment for `aimachine` against `sim`, with stand-in ssh/terraform and state under tmp."""
    return {**sim.env(),
            "PATH": f"{HERE / 'fakessh'}{os.pathsep}{HERE / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "AIMACHINE_STATE_DIR": str(tmp / "state"),
            "AIMACHINE_TERRAFORM_DIR": str(tmp),
            "FAKE_TERRAFORM_STATE": str(tmp / "tfstate"),
            "FAKE_TERRAFORM_PYTHON": sys.executable,
            "FAKE_SSH_LOG": str(tmp / "ssh.log"),
            **extra}
