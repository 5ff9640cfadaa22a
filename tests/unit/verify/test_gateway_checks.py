"""verify and status on a catalog with a gateway (tests/golden/gateway-catalog.yml): the gateway's VM gets
its unit, liveness and routes checked, the key read on the VM itself; status shows the gateway's URL. The
shipped catalog's checks are what they were."""

from __future__ import annotations

import json

from aimachine.proxmox.status import gateway_lines
from aimachine.verify.checks import checks_for
from aimachine.verify.judges import Output, served_models
from tests.golden import gateway_catalog, shipped_vm

ROUTES = ["Qwen/Qwen2.5-7B-Instruct-AWQ", "llama3.2:3b", "qwen2.5-coder:7b"]


def models(*ids: str) -> Output:
    return Output(0, json.dumps({"object": "list", "data": [{"id": i, "object": "model"} for i in ids]}))


def test_the_gateways_vm_checks_its_unit_health_and_routes():
    host, fronted = gateway_catalog().vms
    checks = {c.name: c for c in checks_for(host, "192.168.0.140")}
    assert checks["gateway-unit"].command == "systemctl is-active aimachine-gateway"
    assert checks["gateway-health"].command.endswith("http://127.0.0.1:4000/health/liveliness")
    command = checks["gateway-models"].command
    assert ". /etc/litellm/master-key.env" in command and "$LITELLM_MASTER_KEY" in command
    assert checks["gateway-models"].expected == ", ".join(ROUTES)
    assert "aimachine-gateway" in checks["services-not-root"].command
    assert "0.0.0.0:4000" in checks["listeners"].expected
    assert not [n for n in (c.name for c in checks_for(fronted, "192.168.0.141")) if n.startswith("gateway")]
    assert not [n for n in (c.name for c in checks_for(shipped_vm(), "192.0.2.1")) if n.startswith("gateway")]


def test_every_route_must_be_listed():
    assert served_models(models(*ROUTES, "extra"), ROUTES).passed
    missing = served_models(models(ROUTES[0]), ROUTES)
    assert not missing.passed and missing.found.startswith("missing llama3.2:3b, qwen2.5-coder:7b; serves ")
    assert not served_models(Output(0, '{"error": "Authentication Error"}'), ROUTES).passed


def test_status_shows_the_gateways_url_and_who_sits_behind_it():
    host, fronted = gateway_catalog().vms
    assert gateway_lines(host, "192.168.0.140") == [
        "  gateway:  http://192.168.0.140:4000/v1 (3 model names; key: gateway.master_key_file)"]
    assert gateway_lines(fronted, "192.168.0.141") == [
        "  behind:   the gateway on vm-llm-aimachine (192.168.0.140)"]
    assert gateway_lines(shipped_vm(), "192.0.2.1") == []
