"""One way for tests to write a catalog: the shipped catalog.yml, with the named fields of its VM (and
of `proxmox`) changed, written as YAML beside the test. Everything not named stays as shipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from aimachine.rehearsal.catalog_copy import apply

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_VM = "vm-llm-aimachine"


def build_catalog(folder: Path, vm: dict[str, Any] | None = None, proxmox: dict[str, Any] | None = None,
                  name: str = "catalog.yml") -> Path:
    """FOLDER/NAME: the shipped catalog with `vm` ({"login.ssh_public_key_file": ..., "image": ...};
    None removes a field) applied to its VM and `proxmox` to its proxmox section."""
    raw = yaml.safe_load((ROOT / "catalog.yml").read_text())
    entry = next(v for v in raw["vms"] if v["name"] == SHIPPED_VM)
    apply(entry, vm or {})
    apply(raw["proxmox"], proxmox or {})
    path = folder / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path
