"""The simulator is true to the official Proxmox VE API schema (aimachine/pvesim/api-schema/, pve-docs
apidata.js of PVE 8.4.2 and 9.1.3): every route it serves exists in both versions with the same method,
the parameters it reads are the schema's, and requests are verified the way PVE verifies them."""

from __future__ import annotations

import ast
import inspect
import json
import textwrap

import pytest

from aimachine.pvesim import routes, schema, server  # noqa: F401 (server imports the route modules)

SERVED = [(r.method, r.path, r.handler) for r in routes.ROUTES]


def _params_read(handler) -> set[str]:
    """The parameter names a handler reads: p["x"], p.get("x"), "x" in p, p.pop("x")."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(handler)))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "p" \
                and isinstance(node.slice, ast.Constant):
            names.add(node.slice.value)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "p" \
                and node.func.attr in ("get", "pop") and node.args and isinstance(node.args[0], ast.Constant):
            names.add(node.args[0].value)
        elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant) \
                and any(isinstance(c, ast.Name) and c.id == "p" for c in node.comparators):
            names.add(node.left.value)
    return names


def test_the_simulator_serves_routes():
    assert len(SERVED) >= 30


@pytest.mark.parametrize("version", schema.VERSIONS)
@pytest.mark.parametrize(("method", "path", "handler"), SERVED, ids=[f"{m} {p}" for m, p, _ in SERVED])
def test_every_route_is_in_the_schema_with_its_parameters(version, method, path, handler):
    spec = schema.spec(version, method, path)  # KeyError: not a route of that PVE version
    unknown = {name for name in _params_read(handler) if spec.parameter(name) is None}
    assert not unknown, f"{method} {path} reads parameters PVE {version} does not define: {unknown}"


def test_the_parameter_reader_sees_what_handlers_read():
    """The test above must be able to fail: a handler reading a made-up parameter is caught."""
    def handler(w, m, p, token):
        return p.get("no-such-param"), p["vmid"], "start" in p

    assert _params_read(handler) == {"no-such-param", "vmid", "start"}


def test_fixtures_are_the_official_schema():
    for version, full in (("8.4", "8.4.2"), ("9.1", "9.1.3")):
        data = json.loads((schema.FIXTURES / f"routes-{version}.json").read_text())
        assert data["source"] == "pve-docs api-viewer/apidata.js" and data["version"] == full


def test_unknown_parameters_are_refused_as_pve_does():
    spec = schema.spec("8.4", "POST", "/nodes/{node}/qemu")
    errors = schema.verify(spec, {"vmid": "140", "cores": "2", "cpus": "2"}, {"node": "pve"})
    assert errors == {"cpus": schema.NOT_IN_SCHEMA}
    assert schema.verify(spec, {"cores": "2"}, {"node": "pve"}) == {"vmid": schema.MISSING}
    net = schema.verify(spec, {"vmid": "1", "net0": "virtio,bridge=vmbr0,colour=red"}, {"node": "pve"})
    assert "net0.colour" in net["net0"]
    assert schema.verify(spec, {"vmid": "1", "net0": "virtio=BC:24:11:00:00:01,bridge=vmbr0",
                                "virtio0": "file=local-zfs:0,import-from=local:import/x.qcow2,iothread=1"},
                         {"node": "pve"}) == {}


def test_pve9_lost_vm_monitor_on_the_agent_route():
    agent = "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces"
    eight = schema.check_of(schema.spec("8.4", "GET", agent))
    nine = schema.check_of(schema.spec("9.1", "GET", agent))
    assert eight == ["perm", "/vms/{vmid}", ["VM.Monitor"]]
    assert nine == ["perm", "/vms/{vmid}", ["VM.GuestAgent.Audit", "VM.GuestAgent.Unrestricted"], "any", 1]


def test_permission_checks_are_evaluated_from_the_schema():
    values = {"vmid": "140", "id": "rtx5060ti"}
    granted = {("/vms/140", "VM.Audit"), ("/mapping/pci/rtx5060ti", "Mapping.Audit")}

    def holds(path, privs):
        return any((path, priv) in granted for priv in privs)

    assert schema.failed_check(["perm", "/vms/{vmid}", ["VM.Audit"]], values, holds) is None
    assert schema.failed_check(["perm", "/vms/{vmid}", ["VM.PowerMgmt"]], values, holds) == \
        "Permission check failed (/vms/140, VM.PowerMgmt)"
    assert schema.failed_check(["perm", "/", ["VM.Audit"]], values, holds) == \
        "Permission check failed (/, VM.Audit)", "the path counts, not only the privilege"
    # an any-of check that fails names nothing, as pve-access-control's check_any
    assert schema.failed_check(["perm", "/", ["Sys.Audit", "Sys.Modify"], "any", 1], values, holds) == \
        "Permission check failed"
    mapping = schema.check_of(schema.spec("8.4", "GET", "/cluster/mapping/pci/{id}"))
    assert schema.failed_check(mapping, values, holds) is None  # Mapping.Audit is one of the `or`
    assert schema.failed_check(mapping, {"id": "other"}, holds) == "Permission check failed"
