"""The VM's PCI bus as the guest's own sysfs shows it, with the passed-through RTX 5060 Ti on it: what the
test host and the rehearsal's guest (containers, with no GPU) are given at /sys/bus/pci, so the real
`lspci` of the base step and the real `ubuntu-drivers` of the nvidia step see the card.

Shaped after a real machine's: the card's ids and class from tests/fixtures/lspci-nn.rtx5060ti.txt, its
subsystem ids from the modalias in tests/fixtures/ubuntu-drivers-devices.rtx5060ti.noble.txt (an MSI
card, 1462:5354), the HDMI audio function beside it. Each function is a folder of
/sys/devices/pci0000:00/0000:00:01.0/ linked from bus/pci/devices/, holding the files Linux writes:
vendor, device, subsystem_vendor, subsystem_device, class, revision, modalias and the first 64 bytes
of the config space (the standard header, little-endian), which lspci reads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT_COMPLEX = "devices/pci0000:00"
BRIDGE = f"{ROOT_COMPLEX}/0000:00:01.0"


@dataclass(frozen=True)
class Function:
    address: str
    vendor: int
    device: int
    subsystem_vendor: int
    subsystem_device: int
    cls: int  # class, subclass, programming interface: 0x030000 is a VGA controller
    revision: int = 0xA1

    def modalias(self) -> str:
        base, sub, prog = self.cls >> 16, (self.cls >> 8) & 0xFF, self.cls & 0xFF
        return (f"pci:v{self.vendor:08X}d{self.device:08X}sv{self.subsystem_vendor:08X}"
                f"sd{self.subsystem_device:08X}bc{base:02X}sc{sub:02X}i{prog:02X}")

    def config(self) -> bytes:
        """The type-0 header: ids, command/status, revision and class, header type (multi-function),
        subsystem ids at 0x2c."""
        head = bytearray(64)
        head[0:2], head[2:4] = self.vendor.to_bytes(2, "little"), self.device.to_bytes(2, "little")
        head[4:6], head[6:8] = (0x0007).to_bytes(2, "little"), (0x0010).to_bytes(2, "little")
        head[8] = self.revision
        head[9:12] = self.cls.to_bytes(3, "little")
        head[14] = 0x80
        head[0x2C:0x2E] = self.subsystem_vendor.to_bytes(2, "little")
        head[0x2E:0x30] = self.subsystem_device.to_bytes(2, "little")
        return bytes(head)


RTX_5060_TI = (
    Function("0000:01:00.0", 0x10DE, 0x2D04, 0x1462, 0x5354, 0x030000),
    Function("0000:01:00.1", 0x10DE, 0x22EB, 0x1462, 0x5354, 0x040300),
)


def write(root: Path, functions: tuple[Function, ...] = RTX_5060_TI) -> Path:
    """Lay FUNCTIONS out under ROOT, a stand-in for /sys (bus/pci and devices/pci0000:00); returns ROOT."""
    devices = root / "bus/pci/devices"
    devices.mkdir(parents=True, exist_ok=True)
    for fn in functions:
        folder = root / BRIDGE / fn.address
        folder.mkdir(parents=True, exist_ok=True)
        files = {"vendor": f"0x{fn.vendor:04x}", "device": f"0x{fn.device:04x}",
                 "subsystem_vendor": f"0x{fn.subsystem_vendor:04x}",
                 "subsystem_device": f"0x{fn.subsystem_device:04x}", "class": f"0x{fn.cls:06x}",
                 "revision": f"0x{fn.revision:02x}", "modalias": fn.modalias(), "irq": "0",
                 "enable": "1", "boot_vga": "0" if fn.cls >> 8 == 0x0300 else None}
        for name, value in files.items():
            if value is not None:
                (folder / name).write_text(value + "\n")
        (folder / "config").write_bytes(fn.config())
        link = devices / fn.address
        if not link.is_symlink():
            link.symlink_to(os.path.relpath(folder, devices))
    return root
