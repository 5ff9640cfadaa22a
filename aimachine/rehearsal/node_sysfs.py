"""The stand-in node's view of the card in sysfs, where preflight's gpu-state check reads it (over the node's
SSH, with AIMACHINE_NODE_SYSFS pointing here: aimachine/proxmox/gpu_state.py).

Shaped as Linux lays it out: /sys/bus/pci/devices/DDDD:BB:DD.F/ holds `power_state` (D0, D3hot,
D3cold; a card bound to vfio-pci with no VM running idles in D3hot) and `config`, the config space, whose
first four bytes are the vendor and device ids, little-endian. A card that fell off the bus, as an RTX 50
card that did not reset after its VM stopped, answers every config read with all-ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aimachine.catalog.schema import Vm
from aimachine.proxmox.gpu_state import function_address

HEALTHY = {"power_state": "D3hot", "answers": True}
STUCK = {"power_state": "D3cold", "answers": False}


def write(root: Path, vm: Vm, card: dict[str, Any]) -> Path:
    """Lay out the card of VM under ROOT as CARD says (HEALTHY or STUCK); return ROOT."""
    folder = root / "bus" / "pci" / "devices" / function_address(vm)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "power_state").write_text(card["power_state"] + "\n")
    vendor, device = (int(x, 16) for x in vm.gpu.vendor_device.split(":"))
    head = vendor.to_bytes(2, "little") + device.to_bytes(2, "little") if card["answers"] else b"\xff" * 4
    (folder / "config").write_bytes(head + (b"\x00" if card["answers"] else b"\xff") * 252)
    return root
