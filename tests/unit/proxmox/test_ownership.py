"""'Is it ours?' decided in one place (proxmox/ownership.py): free, ours, another VM, a container; and
the refusal an admin reads before anything is touched."""

from __future__ import annotations

import pytest

from aimachine.errors import PhaseError
from aimachine.proxmox import ownership as own

RESOURCES = [{"vmid": 120, "name": "gaming", "status": "running", "type": "qemu"},
             {"vmid": "140", "name": "vm-llm-aimachine", "status": "stopped", "type": "qemu"},
             {"vmid": 150, "name": "dns", "status": "running", "type": "lxc"},
             {"vmid": 160, "name": "old"}, {"name": "an entry without an id"}]


@pytest.mark.parametrize(("vmid", "exists", "name", "status", "is_vm", "ours", "foreign"), [
    (130, False, "", "", False, False, False),
    (140, True, "vm-llm-aimachine", "stopped", True, True, False),
    (120, True, "gaming", "running", True, False, True),
    (150, True, "dns", "running", False, False, True),
    (160, True, "old", "", True, False, True),
])
def test_holder(vmid, exists, name, status, is_vm, ours, foreign):
    found = own.holder(RESOURCES, vmid)
    assert (found.vmid, found.exists, found.name, found.status, found.is_vm) == \
        (vmid, exists, name, status, is_vm)
    assert found.ours("vm-llm-aimachine") is ours and found.foreign("vm-llm-aimachine") is foreign
    assert found.entry == next((r for r in RESOURCES if int(r.get("vmid", 0)) == vmid), None)


def test_a_container_of_the_vms_name_is_not_ours():
    found = own.holder([{"vmid": 140, "name": "vm-llm-aimachine", "type": "lxc"}], 140)
    assert not found.ours("vm-llm-aimachine") and found.foreign("vm-llm-aimachine")


def test_refusal_names_the_holder_and_the_fix():
    with pytest.raises(PhaseError) as err:
        own.refuse_foreign(own.holder(RESOURCES, 120), "vm-llm-aimachine", "android-19", "destroy")
    assert (err.value.phase, err.value.message, err.value.remedy) == (
        "destroy", "VM 120 on android-19 is named 'gaming', not 'vm-llm-aimachine': refusing to destroy it",
        "fix the vmid in the catalog; that VM is not managed by this catalog")


@pytest.mark.parametrize("vmid", [130, 140])
def test_no_refusal_for_a_free_id_or_our_vm(vmid):
    own.refuse_foreign(own.holder(RESOURCES, vmid), "vm-llm-aimachine", "android-19", "destroy")


def test_holder_on_asks_cluster_resources_for_vms():
    asked = []

    class Api:
        def get(self, path, **params):
            asked.append((path, params))
            return RESOURCES

    assert own.holder_on(Api(), 140).name == "vm-llm-aimachine"
    assert asked == [("cluster/resources", {"type": "vm"})]
