"""Test set-up around the simulator: a catalog pointing at it, the real Terraform and bpg provider in a
scratch module, a stand-in ssh on PATH."""

from __future__ import annotations

import os
from pathlib import Path

from tests.harness.catalog import build_catalog
from tests.harness.terraform_tools import require_tools, scratch_module
from tests.pve_sim.fixture import IMPORT_IMAGE, ROOT, PveSim

HERE = Path(__file__).resolve().parent
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZha2VrZXlmb3J0ZXN0c29ubHkwMDAwMDAwMDAwMDA test@aimachine"
SHIPPED_IMAGE = "local:iso/noble-server-cloudimg-amd64.img"


def write_catalog(tmp: Path, endpoint: str = "https://192.168.0.19:8006", image: str = IMPORT_IMAGE) -> Path:
    """The shipped catalog, its key file replaced by one in `tmp` (the endpoint stays the real one:
    the tool must use PROXMOX_VE_ENDPOINT, never the catalog's address, to reach the API). The image
    is one in `import` content, which the provider imports through the API alone; the shipped `iso`
    image would make it import over SSH to the node (`image=` keeps that one)."""
    key = tmp / "id_test.pub"
    key.write_text(PUBLIC_KEY + "\n")
    (tmp / "id_test").write_text("not a real private key\n")
    return build_catalog(tmp, vm={"login.ssh_public_key_file": str(key), "image": image},
                         proxmox={"endpoint": endpoint})


def cli_env(sim: PveSim, tmp: Path, **extra: str) -> dict[str, str]:
    """Environment for `aimachine` against `sim`: the real Terraform and provider (a scratch copy of
    terraform/ under tmp, providers from the local mirror), a stand-in ssh, state under tmp, the node's
    sysfs with the shipped catalog's card, idle and healthy unless a test laid it out already."""
    from aimachine.catalog.schema import load_catalog
    from aimachine.rehearsal import node_sysfs

    vm = load_catalog(ROOT / "catalog.yml").vms[0]
    sysfs = tmp / "node-sysfs"
    if not sysfs.exists():
        node_sysfs.write(sysfs, vm, node_sysfs.HEALTHY)
    return {**sim.env(), **require_tools().env(), "AIMACHINE_NODE_SYSFS": str(sysfs),
            "PATH": f"{HERE / 'fakessh'}{os.pathsep}{os.environ['PATH']}",
            "AIMACHINE_STATE_DIR": str(tmp / "state"),
            "AIMACHINE_TERRAFORM_DIR": str(scratch_module(tmp)),
            "FAKE_SSH_LOG": str(tmp / "ssh.log"),
            **extra}


def least_privileges(major: int = 8, new_mapping: bool = True) -> list[str]:
    """The least-privilege role of a deploy of the shipped catalog's VM (what `token-setup` prints)."""
    from aimachine.catalog.schema import load_catalog
    from aimachine.proxmox import privileges

    cat = load_catalog(ROOT / "catalog.yml")
    return privileges.names(privileges.needed(cat, cat.vms[0], major, new_mapping))
