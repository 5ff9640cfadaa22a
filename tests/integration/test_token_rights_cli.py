"""A token's rights as real Proxmox VE 8.4 and 9.1 judge them, through the CLI against the simulator's
permission model (ACLs, roles, propagation, privilege separation): the least-privilege token deploys
with the real provider; each privilege removed fails preflight by name before anything changes; scoped
ACLs give warnings, never a false "free"; transient 500s on reads are retried."""

from __future__ import annotations

from pathlib import Path

import pytest

from aimachine.pvesim.access import privileges_of
from tests.conftest import run_aimachine
from tests.pve_sim.cli_env import cli_env, least_privileges, write_catalog
from tests.pve_sim.fixture import healthy_state

USER, TOKEN_ID = "aimachine@pve", "aimachine@pve!deploy"
TOKEN = f"{TOKEN_ID}=5d6a3f2e-0000-4000-8000-00000000beef"
SECRET = TOKEN.split("=", 1)[1]
NODE = "android-19"
VERSIONS = {"8.4": 8, "9.1": 9}


def scoped_state(tmp_path: Path, version: str, privs: list[str], acl: list[dict] | None = None) -> dict:
    """A host where the deploy token (privilege separation on) and its user hold role AImachine as the
    ACL says: by default on / with propagation, as `aimachine token-setup` grants it."""
    state = healthy_state()
    state["version"] = version
    state["nodes"][NODE]["storage"]["local"]["path"] = str(tmp_path / "vz")
    state["tokens"] = [{"token": TOKEN}]
    state["roles"] = {"AImachine": privs}
    state["acl"] = acl if acl is not None else [
        {"path": "/", "role": "AImachine", "users": [USER], "tokens": [TOKEN_ID], "propagate": 1}]
    return state


def _cli(sim, tmp_path: Path, *args: str):
    sim.token = TOKEN
    catalog = write_catalog(tmp_path)
    result = run_aimachine(*args, "vm-llm-aimachine", "--catalog", str(catalog),
                           env=cli_env(sim, tmp_path), timeout=300)
    out = result.stdout + result.stderr
    assert SECRET not in out and "Traceback" not in out
    return result


@pytest.mark.parametrize("version", VERSIONS)
def test_the_least_privilege_token_deploys_with_the_real_provider(pve_sim, tmp_path: Path, version) -> None:
    """No mapping yet (Terraform makes it): every privilege of the role is exercised by a real apply."""
    role = least_privileges(VERSIONS[version])
    assert set(role) <= set(privileges_of(version)), "the role names only privileges this version knows"
    state = scoped_state(tmp_path, version, role)
    state["mappings"]["pci"] = {}
    sim = pve_sim(state)
    result = _cli(sim, tmp_path, "provision")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok   privileges:" in result.stdout
    assert sim.vms()[140]["status"] == "running"
    assert "rtx5060ti" in sim.state()["mappings"]["pci"]


def test_token_setup_prints_the_commands_of_the_nodes_version(pve_sim, tmp_path: Path) -> None:
    for version, major in VERSIONS.items():
        sim = pve_sim(scoped_state(tmp_path, version, least_privileges(major)))
        result = _cli(sim, tmp_path, "token-setup")
        assert result.returncode == 0, result.stderr
        assert f"# On the Proxmox VE {major}.x node" in result.stdout
        role = f'pveum role add AImachine --privs "{" ".join(least_privileges(major))}"'
        assert role in result.stdout
        acl = "pveum acl modify / --users 'aimachine@pve' --tokens 'aimachine@pve!deploy' --roles AImachine"
        assert acl in result.stdout
        assert ("VM.Monitor" in result.stdout) == (major == 8)


CASES = [(version, priv) for version, major in VERSIONS.items() for priv in least_privileges(major)]


@pytest.mark.parametrize(("version", "priv"), CASES, ids=[f"{v}-{p}" for v, p in CASES])
def test_each_privilege_removed_fails_preflight_naming_it(pve_sim, tmp_path: Path, version, priv) -> None:
    role = [p for p in least_privileges(VERSIONS[version]) if p != priv]
    state = scoped_state(tmp_path, version, role)
    state["mappings"]["pci"] = {}  # a first deploy: Mapping.Modify is needed too
    sim = pve_sim(state)
    result = _cli(sim, tmp_path, "deploy", "--until", "provision")
    assert result.returncode == 3, result.stdout + result.stderr
    privileges_line = next(line for line in result.stdout.splitlines() if " privileges: " in line)
    assert privileges_line.startswith("FAIL") and priv in privileges_line, privileges_line
    assert sim.changes() == [], "nothing changes: no case reaches apply"


def _acl(path: str, propagate: int = 1, role: str = "AImachine") -> dict:
    return {"path": path, "role": role, "users": [USER], "tokens": [TOKEN_ID], "propagate": propagate}


def test_vm_audit_on_the_vm_alone_never_calls_a_hidden_busy_gpu_free(pve_sim, tmp_path: Path) -> None:
    """VM 120, running with the GPU, is invisible to a token whose VM rights stop at /vms/140."""
    role = least_privileges(8, new_mapping=False)
    vm_privs = [p for p in role if p.startswith("VM.")]
    state = scoped_state(tmp_path, "8.4", role, acl=[
        _acl("/vms/140", role="VMRole"), _acl("/", role="HostRole")])
    state["roles"] = {"VMRole": vm_privs, "HostRole": [p for p in role if not p.startswith("VM.")]}
    state["nodes"][NODE]["vms"][120]["status"] = "running"
    sim = pve_sim(state)
    result = _cli(sim, tmp_path, "preflight")
    out = result.stdout
    assert "ok   privileges:" in out, out
    gpu_free = next(line for line in out.splitlines() if " gpu-free: " in line)
    assert gpu_free.startswith("warn") and "may see only some VMs" in gpu_free, gpu_free
    assert "--roles PVEAuditor" in out
    assert "no other VM holds the GPU" not in out


def test_an_id_taken_by_an_invisible_guest_fails(pve_sim, tmp_path: Path) -> None:
    role = least_privileges(8, new_mapping=False)
    state = scoped_state(tmp_path, "8.4", role, acl=[_acl("/"), _acl("/vms/140", role="NoAccess")])
    state["roles"]["NoAccess"] = ["Sys.Audit"]  # an entry on /vms/140 replaces what / propagates there
    state["nodes"][NODE]["vms"][140] = {"name": "database", "status": "running", "config": {}}
    sim = pve_sim(state)
    result = _cli(sim, tmp_path, "preflight")
    assert result.returncode == 3
    assert "FAIL vmid: VM id 140 is taken by a guest token aimachine@pve!deploy may not see" in result.stdout


def test_storage_rights_on_the_disk_storage_alone_name_the_image_storage(pve_sim, tmp_path: Path) -> None:
    role = least_privileges(8, new_mapping=False)
    state = scoped_state(tmp_path, "8.4", role, acl=[_acl("/", role="NoStorage"), _acl("/storage/local-zfs")])
    state["roles"]["NoStorage"] = [p for p in role if not p.startswith("Datastore.")]
    sim = pve_sim(state)
    result = _cli(sim, tmp_path, "preflight")
    assert result.returncode == 3
    assert "Datastore.AllocateSpace or Datastore.Audit on /storage/local" in result.stdout
    assert "FAIL image: token aimachine@pve!deploy may not read storage 'local'" in result.stdout
    assert "grant Datastore.AllocateSpace on /storage/local" in result.stdout
    assert "ok   storage: local-zfs:" in result.stdout


def test_a_grant_without_propagation_covers_only_its_path(pve_sim, tmp_path: Path) -> None:
    role = least_privileges(8, new_mapping=False)
    sim = pve_sim(scoped_state(tmp_path, "8.4", role, acl=[_acl("/", propagate=0)]))
    result = _cli(sim, tmp_path, "preflight")
    assert result.returncode == 3
    line = next(line for line in result.stdout.splitlines() if " privileges: " in line)
    assert line.startswith("FAIL") and "VM.Allocate on /vms/140" in line
    assert "warn resources: cannot read android-19's cores and memory" in result.stdout
    assert sim.changes() == []


def test_containers_are_not_vms(pve_sim, tmp_path: Path) -> None:
    state = scoped_state(tmp_path, "9.1", least_privileges(9, new_mapping=False))
    state["nodes"][NODE]["containers"] = {130: {"name": "pihole", "status": "running"}}
    sim = pve_sim(state)
    result = _cli(sim, tmp_path, "preflight", "-v")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "could not read config 130" not in result.stdout
    state["nodes"][NODE]["containers"] = {140: {"name": "pihole", "status": "running"}}
    taken = pve_sim(state)
    result = _cli(taken, tmp_path, "preflight")
    assert result.returncode == 3
    assert "FAIL vmid: id 140 belongs to container 'pihole'" in result.stdout


def test_a_transient_500_on_a_read_is_retried(pve_sim, tmp_path: Path) -> None:
    state = scoped_state(tmp_path, "8.4", least_privileges(8, new_mapping=False))
    state["faults"] = [{"method": "GET", "path": "/cluster/resources", "status": 500,
                        "message": "got no worker"}]
    sim = pve_sim(state)
    result = _cli(sim, tmp_path, "preflight")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sim.state()["faults"] == [], "the fault was met, and the read asked again"


def test_the_mapping_is_checked_on_the_node(pve_sim, tmp_path: Path) -> None:
    """PCI mappings carry the node's own checks only when asked with check-node: preflight asks."""
    state = scoped_state(tmp_path, "8.4", least_privileges(8, new_mapping=False))
    entry = "node=android-19,path=0000:01:00,id=10de:2d04,iommugroup=9"
    state["mappings"]["pci"]["rtx5060ti"]["map"] = [entry]
    sim = pve_sim(state)
    result = _cli(sim, tmp_path, "preflight")
    assert "warn mapping: 'rtx5060ti' has problems: IOMMU group of 0000:01:00 is 14, not 9" in result.stdout


@pytest.mark.parametrize("version", VERSIONS)
def test_the_role_is_what_a_real_deploys_calls_are_checked_for(pve_sim, tmp_path: Path, version) -> None:
    """The evidence for the least role: a real deploy (the tool's calls and the real provider's, a
    first apply that also makes the mapping) by a token holding every privilege, with each permission
    check its calls met journalled by the simulator. The role passes every one of them, and each of its
    privileges is the role's only way through at least one."""
    major = VERSIONS[version]
    state = scoped_state(tmp_path, version, list(privileges_of(version)))
    state["mappings"]["pci"] = {}
    sim = pve_sim(state)
    assert _cli(sim, tmp_path, "provision").returncode == 0
    met = {(path, tuple(privs)) for request in sim.state()["checks"]
           for path, privs, _held in request["checked"]}
    role = set(least_privileges(major))
    assert [(path, privs) for path, privs in met if not role & set(privs)] == [], "a check the role fails"
    needed_alone = {next(iter(role & set(privs))) for _path, privs in met if len(role & set(privs)) == 1}
    assert needed_alone == role, f"in the role but no call needs it: {sorted(role - needed_alone)}"
