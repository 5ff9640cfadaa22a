"""The VM's PCI bus given to the test host: the card as a real machine's sysfs and lspci show it."""

from __future__ import annotations

from aimachine.rehearsal import vm_sysfs
from tests.harness.real_outputs import body


def test_the_cards_modalias_is_the_one_real_ubuntu_drivers_printed():
    gpu = vm_sysfs.RTX_5060_TI[0]
    assert f"modalias : {gpu.modalias()}" in body("ubuntu-drivers-devices.rtx5060ti.noble.txt")


def test_the_config_header_holds_ids_and_class_little_endian():
    gpu = vm_sysfs.RTX_5060_TI[0]
    head = gpu.config()
    assert head[:4] == bytes.fromhex("de10042d") and head[9:12] == bytes.fromhex("000003")
    assert head[0x2C:0x30] == bytes.fromhex("62145453") and head[8] == 0xA1


def test_the_bus_links_into_the_root_complex(tmp_path):
    root = vm_sysfs.write(tmp_path)
    for fn in vm_sysfs.RTX_5060_TI:
        link = root / "bus/pci/devices" / fn.address
        assert link.is_symlink()
        assert link.resolve() == (root / vm_sysfs.BRIDGE / fn.address).resolve()
        assert (link / "vendor").read_text() == "0x10de\n"
    assert (root / "bus/pci/devices/0000:01:00.1/class").read_text() == "0x040300\n"
