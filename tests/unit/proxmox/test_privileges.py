"""The privileges a deploy needs: where Proxmox checks them, how they are judged, how they are granted,
what a 403 in the boot phase does, and that docs/proxmox-host.md lists exactly the tool's one constant."""

from __future__ import annotations

import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from aimachine.catalog.schema import load_catalog
from aimachine.errors import PhaseError
from aimachine.proxmox import preflight as pf
from aimachine.proxmox import privileges as privs
from aimachine.proxmox.api import ApiError
from aimachine.proxmox.messages import denied
from aimachine.proxmox.provision import Run, boot
from tests.conftest import ROOT
from tests.pve_sim.cli_env import least_privileges, write_catalog

TOKEN_ID = "aimachine@pve!deploy"


@pytest.fixture
def cat(tmp_path: Path):
    return load_catalog(write_catalog(tmp_path))


def role(cat, pve_major: int = 8) -> list[str]:
    """The least-privilege role (a first deploy: the mapping still to be made); the test catalog's VM
    differs from the shipped one only in its key and image file, so the role is the same."""
    return least_privileges(pve_major)


def all_on_root(cat, pve_major: int = 8) -> dict:
    return {"/": dict.fromkeys(role(cat, pve_major), 1)}


def _facts(permissions: dict | None, version: str = "8.4.1", errors: dict | None = None) -> pf.HostFacts:
    return pf.HostFacts(node="android-19", token_id=TOKEN_ID, pve_version=version, permissions=permissions,
                        errors=errors or {})


def test_needed_fills_in_the_vms_paths_once_each(cat) -> None:
    needs = {(n.privs, n.path) for n in privs.needed(cat, cat.vms[0])}
    assert (("VM.Monitor",), "/vms/140") in needs
    assert (("Datastore.AllocateSpace",), "/storage/local-zfs") in needs
    assert (("SDN.Use",), "/sdn/zones/localnetwork/vmbr0") in needs
    assert (("Mapping.Use",), "/mapping/pci/rtx5060ti") in needs
    assert (("Mapping.Modify",), "/mapping/pci") in needs
    assert (("Sys.Audit", "Sys.Modify"), "/") in needs  # hardware/pci: either will do
    listed = privs.needed(cat, cat.vms[0])
    # image and snippets both live on `local`: one entry, not two
    assert [n.path for n in listed].count("/storage/local") == 1
    assert len(listed) == len(needs)
    assert all(n.why for n in listed), "every privilege says why it is needed"


def test_an_existing_mapping_needs_no_mapping_modify(cat) -> None:
    names = privs.names(privs.needed(cat, cat.vms[0], new_mapping=False))
    assert "Mapping.Use" in names and "Mapping.Modify" not in names


def test_the_least_role_has_no_redundant_privilege(cat) -> None:
    """Datastore.Audit and Mapping.Audit add nothing: AllocateSpace and Use pass the same reads."""
    for major in (8, 9):
        assert not {"Datastore.Audit", "Mapping.Audit", "Sys.Modify"} & set(role(cat, major))


def test_root_password_needs_no_mapping_privileges_and_pve9_has_no_vm_monitor(tmp_path: Path) -> None:
    path = write_catalog(tmp_path)
    path.write_text(path.read_text().replace("auth: api-token", "auth: root-password"))
    cat = load_catalog(path)
    names = privs.names(privs.needed(cat, cat.vms[0], pve_major=9))
    assert not [n for n in names if n.startswith("Mapping.")]
    assert "VM.GuestAgent.Audit" in names and "VM.Monitor" not in names


def test_effective_reads_the_path_or_what_its_nearest_ancestor_propagates() -> None:
    tree = {"/": {"Sys.Audit": 1, "VM.Audit": 0},
            "/vms/140": {"VM.Monitor": 0},
            "/mapping/pci": {"Mapping.Modify": 1}}
    assert privs.effective(tree, "/") == {"Sys.Audit", "VM.Audit"}  # on the path itself: propagate or not
    assert privs.effective(tree, "/vms/140") == {"VM.Monitor"}  # its own entry replaces what / grants
    assert privs.effective(tree, "/vms/141") == {"Sys.Audit"}  # from /, only what propagates
    assert privs.effective(tree, "/mapping/pci/rtx5060ti") == {"Mapping.Modify"}
    assert privs.effective({}, "/vms/140") == set()
    monitor140 = privs.Need(("VM.Monitor",), "/vms/140", "")
    monitor141 = privs.Need(("VM.Monitor",), "/vms/141", "")
    pci = privs.Need(("Sys.Modify", "Sys.Audit"), "/", "")
    assert privs.missing(tree, [monitor140, monitor141, pci]) == [monitor141]


def test_only_a_propagated_vm_audit_sees_every_vm() -> None:
    assert privs.sees_every_vm({"/": {"VM.Audit": 1}})
    assert privs.sees_every_vm({"/vms": {"VM.Audit": 1}, "/": {"Sys.Audit": 1}})
    assert not privs.sees_every_vm({"/vms/140": {"VM.Audit": 1}})
    assert not privs.sees_every_vm({"/": {"VM.Audit": 0}})


def test_grant_command_names_role_user_and_token() -> None:
    command = privs.grant_command(TOKEN_ID, ["VM.Audit", "VM.Monitor"])
    assert 'pveum role add AImachine --privs "VM.Audit VM.Monitor"' in command
    assert "pveum acl modify / --users 'aimachine@pve' --tokens 'aimachine@pve!deploy' --roles AImachine" \
        in command


def test_check_privileges_lists_every_missing_one_with_the_pveum_remedy(cat) -> None:
    granted = {"/": {p: 1 for p in role(cat) if p not in ("VM.Monitor", "Mapping.Modify", "Sys.Audit")}}
    finding = pf.check_privileges(cat, cat.vms[0], _facts(granted))
    assert finding.level == "FAIL"
    assert finding.finding == (f"token {TOKEN_ID} lacks 3 privileges: VM.Monitor on /vms/140, "
                               "Sys.Audit or Sys.Modify on /, Mapping.Modify on /mapping/pci")
    assert f'--privs "{" ".join(role(cat))}"' in finding.remedy
    assert f"--tokens '{TOKEN_ID}'" in finding.remedy


def test_check_privileges_passes_with_all_and_accepts_grants_below_root(cat) -> None:
    assert pf.check_privileges(cat, cat.vms[0], _facts(all_on_root(cat))).level == "ok"
    alternatives = {"/": {**{p: 1 for p in role(cat) if p != "Sys.Audit"}, "Sys.Modify": 1}}
    assert pf.check_privileges(cat, cat.vms[0], _facts(alternatives)).level == "ok"
    split = {"/": {p: 1 for p in role(cat) if not p.startswith("Mapping.")},
             "/mapping/pci": dict.fromkeys(("Mapping.Audit", "Mapping.Use", "Mapping.Modify"), 1)}
    assert pf.check_privileges(cat, cat.vms[0], _facts(split)).level == "ok"


def test_check_privileges_on_pve9_wants_the_guest_agent_privilege(cat) -> None:
    finding = pf.check_privileges(cat, cat.vms[0], _facts(all_on_root(cat), version="9.0.3"))
    assert finding.level == "FAIL"
    assert "VM.GuestAgent.Audit or VM.GuestAgent.Unrestricted on /vms/140" in finding.finding
    assert "VM.Monitor" not in finding.remedy  # Proxmox VE 9 refuses a role naming it


def test_unreadable_permissions_only_warn(cat) -> None:
    facts = _facts(None, errors={"permissions": "500 Internal Server Error"})
    finding = pf.check_privileges(cat, cat.vms[0], facts)
    assert finding.level == "warn"
    assert "500 Internal Server Error" in finding.finding
    assert "pveum user token permissions aimachine@pve deploy" in finding.remedy


def test_denied_reads_proxmox_permission_errors() -> None:
    assert denied("Permission check failed (/vms/140, VM.Monitor)") == ("/vms/140", "VM.Monitor")
    assert denied("Permission check failed (/, Sys.Audit|Sys.Modify)") == ("/", "Sys.Audit|Sys.Modify")
    assert denied("QEMU guest agent is not running") is None


class _RefusingApi:
    """An API whose guest-agent read always fails with `error`; counts the calls."""

    def __init__(self, error: ApiError):
        self.error, self.calls = error, 0
        self.creds = SimpleNamespace(token_id=TOKEN_ID, endpoint="https://127.0.0.1:8006")

    def get(self, path: str, **params) -> dict:
        self.calls += 1
        raise self.error


def test_boot_stops_at_the_first_403_naming_the_privilege(cat) -> None:
    api = _RefusingApi(ApiError(403, "Permission check failed (/vms/140, VM.Monitor)"))
    run = Run(cat, cat.vms[0], lambda _: None, api=api)  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(PhaseError) as err:
        boot(run, agent_deadline_s=300)
    assert time.monotonic() - started < 5 and api.calls == 1
    assert err.value.phase == "boot"
    assert "lacks VM.Monitor on /vms/140" in err.value.message
    assert "pveum role add AImachine" in err.value.remedy and "VM.Monitor" in err.value.remedy


def test_boot_keeps_waiting_on_other_agent_errors(cat) -> None:
    api = _RefusingApi(ApiError(500, "QEMU guest agent is not running"))
    run = Run(cat, cat.vms[0], lambda _: None, api=api)  # type: ignore[arg-type]
    with pytest.raises(PhaseError, match="reported no IPv4 through the guest agent"):
        boot(run, agent_deadline_s=0)


@pytest.mark.parametrize("major", [8, 9])
def test_readme_shows_the_setup_commands_of_each_version(major) -> None:
    """The commands for PVE 8 and 9 in docs/proxmox-host.md are what `aimachine token-setup` prints for the
    shipped catalog, and name no privilege the version does not know."""
    from aimachine.pvesim.access import privileges_of

    readme = (ROOT / "docs" / "proxmox-host.md").read_text()
    section = readme.split("# What you need on the Proxmox side", 1)[1].split("\n## ", 1)[0]
    block = section.split(f"Proxmox VE {major}:", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    cat = load_catalog(ROOT / "catalog.yml")
    expected = privs.setup_commands(privs.names(privs.needed(cat, cat.vms[0], major)))
    assert [line.strip() for line in block.strip().splitlines()] == expected
    listed = re.search(r'--privs "([^"]+)"', block)[1].split()
    assert set(listed) <= set(privileges_of(f"{major}.0")), "a privilege this version refuses"


def test_readme_explains_every_privilege() -> None:
    readme = (ROOT / "docs" / "proxmox-host.md").read_text()
    table = readme.split("| privilege | checked on | why |", 1)[1].split("\n\n", 1)[0]
    cat = load_catalog(ROOT / "catalog.yml")
    for major in (8, 9):
        for need in privs.needed(cat, cat.vms[0], major):
            assert f"`{need.name}`" in table, need.name
