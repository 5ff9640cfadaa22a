"""The simulator checks privileges the way Proxmox VE does: 403 with Proxmox's message before a route
runs, lists filtered to what the token may audit, and the token's own `GET /access/permissions`."""

from __future__ import annotations

import pytest
import requests

from aimachine.pvesim.state import PVE8_PRIVILEGES
from tests.pve_sim.fixture import TOKEN, healthy_state

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # self-signed
NODE = "android-19"


def _call(sim, method: str, path: str, **data) -> requests.Response:
    return sim.call(method, path, **data)


def _sim_with(pve_sim, privs: list[str]):
    state = healthy_state()
    state["tokens"] = [{"token": TOKEN, "privs": privs}]
    return pve_sim(state)


def test_a_missing_privilege_is_a_403_before_anything_changes(pve_sim) -> None:
    sim = _sim_with(pve_sim, [p for p in PVE8_PRIVILEGES if p != "VM.Allocate"])
    answer = _call(sim, "POST", f"/nodes/{NODE}/qemu", vmid=140, name="x", cores=2)
    assert answer.status_code == 403
    assert answer.reason == "Permission check failed"  # qemu-server's create names no privilege
    assert 140 not in sim.vms()


def test_config_options_need_their_own_privileges(pve_sim) -> None:
    sim = _sim_with(pve_sim, [p for p in PVE8_PRIVILEGES if p not in ("Mapping.Use", "SDN.Use")])
    mapped = _call(sim, "PUT", f"/nodes/{NODE}/qemu/120/config", hostpci1="mapping=rtx5060ti,pcie=1")
    assert mapped.reason == "Permission check failed (/mapping/pci/rtx5060ti, Mapping.Use)"
    bridged = _call(sim, "PUT", f"/nodes/{NODE}/qemu/120/config", net0="virtio,bridge=vmbr0")
    assert bridged.reason == "Permission check failed (/sdn/zones/localnetwork/vmbr0, SDN.Use)"
    assert _call(sim, "PUT", f"/nodes/{NODE}/qemu/120/config", cores=4).status_code == 200


def test_a_failed_any_of_check_names_no_privilege(pve_sim) -> None:
    sim = _sim_with(pve_sim, ["VM.Audit"])
    answer = _call(sim, "GET", f"/nodes/{NODE}/hardware/pci")
    assert answer.status_code == 403
    assert answer.reason == "Permission check failed"
    assert _call(_sim_with(pve_sim, ["Sys.Modify"]), "GET", f"/nodes/{NODE}/hardware/pci").status_code == 200


def test_lists_show_only_what_the_token_may_audit(pve_sim) -> None:
    sim = _sim_with(pve_sim, ["Sys.Audit"])
    assert _call(sim, "GET", "/cluster/resources", type="vm").json()["data"] == []
    assert _call(sim, "GET", "/cluster/mapping/pci").json()["data"] == []
    assert _call(sim, "GET", "/storage").json()["data"] == []
    full = _sim_with(pve_sim, list(PVE8_PRIVILEGES))
    assert [v["vmid"] for v in _call(full, "GET", "/cluster/resources", type="vm").json()["data"]] == [120]


def test_access_permissions_reports_the_tokens_own_privileges(pve_sim) -> None:
    sim = _sim_with(pve_sim, ["VM.Audit", "Sys.Audit"])
    assert _call(sim, "GET", "/access/permissions").json()["data"] == {"/": {"Sys.Audit": 1, "VM.Audit": 1}}
    plain = pve_sim(healthy_state())  # a token given as a string holds every privilege
    tree = _call(plain, "GET", "/access/permissions").json()["data"]
    assert sorted(tree["/"]) == sorted(PVE8_PRIVILEGES)
