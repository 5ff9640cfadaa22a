"""The simulator behaves as Proxmox VE does where the real provider depends on it: tasks run before they
stop, a create locks its VM, configs are stored normalised, mappings keep their description, PVE's own
error texts. Each shape is from the official schema (aimachine/pvesim/api-schema/) or PVE's sources, as
named in tests/pve_sim/."""

from __future__ import annotations

import time

from tests.pve_sim.fixture import healthy_state

NODE = "android-19"
CREATE = {"vmid": 140, "name": "vm-x", "cores": 2, "memory": 2048,
          "virtio0": "file=local-zfs:0,import-from=local:import/noble-server-cloudimg-amd64.qcow2,iothread=1",
          "efidisk0": "file=local-zfs:1,efitype=4m,pre-enrolled-keys=0", "ide2": "file=local-zfs:cloudinit,",
          "net0": "model=virtio,bridge=vmbr0,firewall=0"}


def _data(answer):
    assert answer.status_code == 200, (answer.status_code, answer.reason, answer.text)
    return answer.json()["data"]


def _wait(sim, upid: str) -> dict:
    for _ in range(100):
        status = _data(sim.call("GET", f"/nodes/{NODE}/tasks/{upid}/status"))
        if status["status"] == "stopped":
            return status
        time.sleep(0.1)
    raise AssertionError("the task never stopped")


def test_a_create_runs_as_a_task_that_locks_the_vm(pve_sim) -> None:
    state = healthy_state()
    state["task_seconds"] = 2  # a create on real storage takes seconds
    sim = pve_sim(state)
    upid = _data(sim.call("POST", f"/nodes/{NODE}/qemu", **CREATE))
    assert _data(sim.call("GET", f"/nodes/{NODE}/tasks/{upid}/status"))["status"] == "running"
    busy = sim.call("PUT", f"/nodes/{NODE}/qemu/140/config", cores=4)
    assert (busy.status_code, busy.reason) == (500, "VM 140 is locked (create)")
    assert _wait(sim, upid)["exitstatus"] == "OK"
    assert sim.call("PUT", f"/nodes/{NODE}/qemu/140/config", cores=4).status_code == 200
    config = _data(sim.call("GET", f"/nodes/{NODE}/qemu/140/config"))
    assert config["cores"] == 4, "integers come back as JSON numbers"
    assert config["virtio0"] == "local-zfs:vm-140-disk-1,iothread=1,size=3584M", "the image's own size"
    assert config["efidisk0"] == "local-zfs:vm-140-disk-0,efitype=4m,pre-enrolled-keys=0,size=1M"
    assert config["ide2"] == "local-zfs:vm-140-cloudinit,media=cdrom"
    assert config["net0"].startswith("virtio=BC:24:11:")
    assert config["net0"].endswith(",bridge=vmbr0,firewall=0")
    assert {"smbios1", "vmgenid", "meta", "digest"} <= set(config)
    resized = _data(sim.call("PUT", f"/nodes/{NODE}/qemu/140/resize", disk="virtio0", size="500G"))
    _wait(sim, resized)
    assert _data(sim.call("GET", f"/nodes/{NODE}/qemu/140/config"))["virtio0"].endswith(",size=500G")
    volume = _data(sim.call("GET", f"/nodes/{NODE}/storage/local-zfs/content/local-zfs%3Avm-140-disk-1"))
    assert (volume["format"], volume["size"]) == ("raw", 500 * 1024**3)


def test_a_failed_task_says_why_in_its_status_and_log(pve_sim) -> None:
    state = healthy_state()
    state["nodes"][NODE]["vms"][120]["status"] = "running"
    state["nodes"][NODE]["vms"][121] = {"name": "other", "config": {"hostpci0": "mapping=rtx5060ti,pcie=1"}}
    sim = pve_sim(state)
    status = _wait(sim, _data(sim.call("POST", f"/nodes/{NODE}/qemu/121/status/start")))
    assert status["exitstatus"] == "PCI device '0000:01:00.0' already in use by VMID '120'"
    log = _data(sim.call("GET", f"/nodes/{NODE}/tasks/{status['upid']}/log"))
    busy = "TASK ERROR: PCI device '0000:01:00.0' already in use by VMID '120'"
    assert log[-1] == {"n": len(log), "t": busy}


def test_mappings_as_pve_keeps_them(pve_sim) -> None:
    state = healthy_state()
    state["mappings"]["pci"] = {}
    sim = pve_sim(state)
    entry = "id=10de:2d04,node=android-19,path=0000:01:00,iommugroup=14"
    _data(sim.call("POST", "/cluster/mapping/pci", id="gpu", map=entry, description="my%20card"))
    assert _data(sim.call("GET", "/cluster/mapping/pci/gpu"))["description"] == "my%20card"
    listed = _data(sim.call("GET", "/cluster/mapping/pci"))
    assert "checks" not in listed[0], "checks only with check-node"
    checked = _data(sim.call("GET", "/cluster/mapping/pci", **{"check-node": NODE}))
    assert checked[0]["checks"] == []
    again = sim.call("POST", "/cluster/mapping/pci", id="gpu", map=entry)
    assert (again.status_code, again.reason) == (500, "pci ID 'gpu' already defined")
    assert sim.call("DELETE", "/cluster/mapping/pci/gpu").status_code == 200
    assert sim.call("DELETE", "/cluster/mapping/pci/gpu").status_code == 200, "a second delete is silent"
    gone = sim.call("GET", "/cluster/mapping/pci/gpu")
    assert (gone.status_code, gone.reason) == (500, "mapping 'gpu' not found")


def test_parameters_outside_the_schema_are_refused(pve_sim) -> None:
    sim = pve_sim(healthy_state())
    answer = sim.call("POST", f"/nodes/{NODE}/qemu", vmid=141, cpus=2)
    assert (answer.status_code, answer.reason) == (400, "Parameter verification failed.")
    assert answer.json()["errors"] == {"cpus": "property is not defined in schema and the schema does not "
                                                "allow additional properties"}
    assert 141 not in sim.vms()


def test_pve9_knows_the_guest_agent_privileges(pve_sim) -> None:
    state = healthy_state()
    state["version"] = "9.1"
    sim = pve_sim(state)
    assert _data(sim.call("GET", "/version"))["release"] == "9.1"
    privs = _data(sim.call("GET", "/access/permissions"))["/"]
    assert "VM.GuestAgent.Audit" in privs and "VM.Monitor" not in privs


def test_a_bad_token_is_refused_as_pve_refuses_it(pve_sim) -> None:
    sim = pve_sim(healthy_state())
    sim.token = "root@pam!aimachine=not-the-secret"
    started = time.monotonic()
    answer = sim.call("GET", "/version")
    assert (answer.status_code, answer.reason) == (401, "Authentication failed!")
    assert time.monotonic() - started >= 3, "PVE answers a failed login only after a pause"
