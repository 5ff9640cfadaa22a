"""What a run learns and later runs need: the VM's address, kept in .aimachine/<name>.json.

No secrets are written here; the directory is git-ignored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

STATE_ENV = "AIMACHINE_STATE_DIR"


def state_dir() -> Path:
    """$AIMACHINE_STATE_DIR; the commands set it to .aimachine beside the catalog."""
    return Path(os.environ.get(STATE_ENV, ".aimachine"))


def _file(vm_name: str) -> Path:
    return state_dir() / f"{vm_name}.json"


def read(vm_name: str) -> dict[str, Any]:
    try:
        return json.loads(_file(vm_name).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def update(vm_name: str, **values: Any) -> dict[str, Any]:
    """Merge `values` into the VM's state file (written atomically) and return the result."""
    data = {**read(vm_name), **values}
    path = _file(vm_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return data


def recorded_address(vm_name: str) -> str | None:
    return read(vm_name).get("address")

