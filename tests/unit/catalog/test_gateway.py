"""The catalog's `gateway` section: its checks (file:line:field), the routes it derives from every VM's
engines, and what it changes on the VMs it fronts (binds, firewall rules). Without it nothing changes."""

from __future__ import annotations

import dataclasses
import re

import pytest
from click.testing import CliRunner

from aimachine.catalog import gateway as gw
from aimachine.catalog.schema import CatalogError, parse_catalog, vm_summary
from aimachine.cli.main import cli
from aimachine.guest.firewall import gateway_rules, ufw_commands
from aimachine.guest.parsers import UfwStatus
from tests.conftest import ROOT
from tests.unit.catalog.test_catalog import line_of

SHIPPED = (ROOT / "catalog.yml").read_text()

VM = """
  - name: {name}
    vmid: {vmid}
    cores: 4
    memory_mb: 8192
    disk_gb: 64
    storage: local-zfs
    image: local:iso/noble-server-cloudimg-amd64.img
    ipv4: {ipv4}
    gateway: 192.168.0.1
    login: {{ssh_public_key_file: ~/.ssh/id_ed25519.pub}}
    gpu: {{pci_address: "0000:0{vmid_digit}:00", vendor_device: "10de:2d04", mapping: m{vmid}}}
    services:
      vllm: {{model: {model}}}
      ollama: {{models: {models}}}
    firewall: {{enabled: {firewall}, admin_network: 192.168.0.0/24}}
"""


def vm(name: str, vmid: int, ipv4: str = "dhcp", model: str = "Qwen/Qwen2.5-7B-Instruct-AWQ",
       models: str = "[llama3.2:3b]", firewall: str = "true") -> str:
    text = VM.format(name=name, vmid=vmid, vmid_digit=vmid % 10, ipv4=ipv4, model=model, models=models,
                     firewall=firewall)
    return text if ipv4 != "dhcp" else text.replace("    gateway: 192.168.0.1\n", "")


GATEWAY = """gateway:
  vm: vm-a
  master_key_file: ~/.config/aimachine/gateway.key
"""
HEAD = "proxmox: {endpoint: 'https://192.168.0.19:8006', node: pve}\n"


def catalog(gateway: str = GATEWAY, *vms: str) -> str:
    vms = vms or (vm("vm-a", 140, "192.168.0.140/24"), vm("vm-b", 141, "192.168.0.141/24"))
    return HEAD + gateway + "vms:" + "".join(vms)


def problems(text: str) -> list[str]:
    with pytest.raises(CatalogError) as err:
        parse_catalog(text, "c.yml")
    return err.value.problems


def assert_problem(text: str, path: str, phrase: str, line_text: str | None) -> None:
    found = [p for p in problems(text) if f": {path}: " in p and phrase in p]
    assert found, f"no problem names {path!r} with {phrase!r}: {problems(text)}"
    match = re.match(r"c\.yml:(\d+): ", found[0])
    assert match, found[0]
    if line_text is not None:
        assert int(match[1]) == line_of(text, line_text), found[0]


def test_without_a_gateway_nothing_changes():
    cat = parse_catalog(SHIPPED)
    assert cat.gateway.vm is None and cat.gateway.routes == ()
    vm_ = cat.vms[0]
    assert vm_.fronted is None and vm_.runs_gateway is None
    assert vm_.services.vllm.bind == "127.0.0.1:8000"
    summary = vm_summary(cat, vm_)
    assert "fronted_by" not in summary and "runs_gateway" not in summary
    assert gateway_rules(vm_) == []


def test_the_defaults():
    gateway = parse_catalog(catalog()).gateway
    assert (gateway.bind, gateway.routing_strategy, gateway.admin_access, gateway.allow_from) == (
        "0.0.0.0:4000", "simple-shuffle", False, None)
    assert gateway.litellm_version == gw.LITELLM_VERSION == "1.110.2"
    assert gateway.index_url == "https://pypi.org/simple"


def test_the_same_model_on_two_vms_is_one_name_with_two_deployments():
    cat = parse_catalog(catalog())
    assert gw.model_list(cat.gateway.routes) == [
        {"model_name": "Qwen/Qwen2.5-7B-Instruct-AWQ", "litellm_params": {
            "model": "hosted_vllm/Qwen/Qwen2.5-7B-Instruct-AWQ", "api_base": "http://127.0.0.1:8000/v1"}},
        {"model_name": "Qwen/Qwen2.5-7B-Instruct-AWQ", "litellm_params": {
            "model": "hosted_vllm/Qwen/Qwen2.5-7B-Instruct-AWQ", "api_base": "http://192.168.0.141:8000/v1"}},
        {"model_name": "llama3.2:3b", "litellm_params": {
            "model": "ollama_chat/llama3.2:3b", "api_base": "http://127.0.0.1:11434"}},
        {"model_name": "llama3.2:3b", "litellm_params": {
            "model": "ollama_chat/llama3.2:3b", "api_base": "http://192.168.0.141:11434"}},
    ]
    assert [(r.name, [d.vm for d in r.deployments]) for r in cat.gateway.routes] == [
        ("Qwen/Qwen2.5-7B-Instruct-AWQ", ["vm-a", "vm-b"]), ("llama3.2:3b", ["vm-a", "vm-b"])]


def test_the_fronted_engines_bind_their_vms_address_and_the_gateways_vm_keeps_loopback():
    a, b = parse_catalog(catalog()).vms
    assert (a.services.vllm.bind, a.services.ollama.bind) == ("127.0.0.1:8000", "127.0.0.1:11434")
    assert (b.services.vllm.bind, b.services.ollama.bind) == ("192.168.0.141:8000", "192.168.0.141:11434")
    assert a.fronted == gw.Fronted("vm-a", None, False)
    assert b.fronted == gw.Fronted("vm-a", "192.168.0.140", False)
    assert a.runs_gateway is not None and b.runs_gateway is None


def test_a_wildcard_bind_stays_and_is_reached_at_the_vms_address():
    b = vm("vm-b", 141, "192.168.0.141/24").replace("vllm: {model: Qwen/Qwen2.5-7B-Instruct-AWQ}",
                                                     "vllm: {model: m/x, bind: 0.0.0.0:8001}")
    cat = parse_catalog(catalog(GATEWAY, vm("vm-a", 140, "192.168.0.140/24"), b))
    assert cat.vms[1].services.vllm.bind == "0.0.0.0:8001"
    assert ("m/x", "http://192.168.0.141:8001/v1") in [
        (r.name, d.api_base) for r in cat.gateway.routes for d in r.deployments]


def test_ollama_names_are_grouped_as_ollama_lists_them():
    cat = parse_catalog(catalog(GATEWAY, vm("vm-a", 140, "192.168.0.140/24", models="[llama3.2]"),
                                vm("vm-b", 141, "192.168.0.141/24", models="['llama3.2:latest']")))
    route = next(r for r in cat.gateway.routes if r.name == "llama3.2:latest")
    assert [d.model for d in route.deployments] == ["ollama_chat/llama3.2:latest"] * 2


def test_disabled_engines_are_not_routed_and_a_vm_without_engines_is_not_fronted():
    c = vm("vm-c", 142).replace("vllm: {model: Qwen/Qwen2.5-7B-Instruct-AWQ}", "vllm: {enabled: false}")
    c = c.replace("ollama: {models: [llama3.2:3b]}", "ollama: {models: []}")
    cat = parse_catalog(catalog(GATEWAY, vm("vm-a", 140, "192.168.0.140/24"),
                                vm("vm-b", 141, "192.168.0.141/24"), c))
    assert cat.vms[2].fronted is None and cat.vms[2].services.vllm.bind == "127.0.0.1:8000"
    assert all(d.vm != "vm-c" for r in cat.gateway.routes for d in r.deployments)


def test_one_vm_alone_runs_its_gateway_on_dhcp():
    cat = parse_catalog(catalog(GATEWAY, vm("vm-a", 140)))
    assert {d.api_base for r in cat.gateway.routes for d in r.deployments} == {
        "http://127.0.0.1:8000/v1", "http://127.0.0.1:11434"}
    assert gw.url(cat.gateway, cat.vms[0]) == "http://ADDRESS:4000/v1"


def test_the_firewall_admits_only_the_gateway_and_the_admin_network_only_when_asked():
    a, b = parse_catalog(catalog()).vms
    assert gateway_rules(b) == [("192.168.0.140/32", 8000), ("192.168.0.140/32", 11434)]
    assert gateway_rules(a) == [("192.168.0.0/24", 4000)]  # the gateway's port, from its clients
    with_admin = GATEWAY + "  admin_access: true\n  allow_from: 10.0.0.0/8\n"
    a, b = parse_catalog(catalog(with_admin)).vms
    assert gateway_rules(b) == [("192.168.0.140/32", 8000), ("192.168.0.0/24", 8000),
                                ("192.168.0.140/32", 11434), ("192.168.0.0/24", 11434)]
    assert gateway_rules(a) == [("10.0.0.0/8", 4000)]
    loopback = GATEWAY + "  bind: 127.0.0.1:4000\n"
    assert gateway_rules(parse_catalog(catalog(loopback)).vms[0]) == []


def test_ufw_commands_add_the_gateways_rules_and_close_them_when_it_goes():
    b = parse_catalog(catalog()).vms[1]
    commands = ufw_commands(None, "192.168.0.0/24", [22], extra=gateway_rules(b))
    assert commands[:3] == ["ufw allow proto tcp from 192.168.0.0/24 to any port 22",
                            "ufw allow proto tcp from 192.168.0.140/32 to any port 8000",
                            "ufw allow proto tcp from 192.168.0.140/32 to any port 11434"]
    rules = ["22/tcp ALLOW IN 192.168.0.0/24", "8000/tcp ALLOW IN 192.168.0.140",
             "11434/tcp ALLOW IN 192.168.0.140"]  # as ufw 0.36.2 prints a /32 (tests/fixtures/ufw-status-*)
    converged = UfwStatus(active=True, incoming="deny", outgoing="allow", rules=rules)
    assert [r.source for r in converged.port_rules] == ["192.168.0.0/24", "192.168.0.140", "192.168.0.140"]
    assert ufw_commands(converged, "192.168.0.0/24", [22], extra=gateway_rules(b)) == []
    # the gateway taken out of the catalog: its rules on the engines' ports are closed
    assert ufw_commands(converged, "192.168.0.0/24", [22]) == [
        "ufw delete allow proto tcp from 192.168.0.140 to any port 8000",
        "ufw delete allow proto tcp from 192.168.0.140 to any port 11434"]


def test_catalog_show_lists_the_routes():
    cat = parse_catalog(catalog())
    shown = vm_summary(cat, cat.vms[0])["runs_gateway"]
    assert shown["url"] == "http://192.168.0.140:4000/v1"
    assert shown["routes"]["llama3.2:3b"] == [
        {"vm": "vm-a", "model": "ollama_chat/llama3.2:3b", "api_base": "http://127.0.0.1:11434"},
        {"vm": "vm-b", "model": "ollama_chat/llama3.2:3b", "api_base": "http://192.168.0.141:11434"}]
    assert vm_summary(cat, cat.vms[1])["fronted_by"] == {
        "gateway_vm": "vm-a", "gateway_address": "192.168.0.140", "admin_access": False}


def test_catalog_show_through_the_cli(tmp_path):
    path = tmp_path / "c.yml"
    path.write_text(catalog())
    result = CliRunner().invoke(cli, ["catalog", "show", "vm-a", "--catalog", str(path)])
    assert result.exit_code == 0, result.output
    assert "runs_gateway:\n  url: http://192.168.0.140:4000/v1" in result.output
    assert "api_base: http://192.168.0.141:8000/v1" in result.output


BAD = [
    ("unknown-vm", catalog(GATEWAY.replace("vm: vm-a", "vm: vm-aa")), "gateway.vm", "did you mean 'vm-a'?",
     "vm: vm-aa"),
    ("key-file-missing", catalog(GATEWAY.replace("  master_key_file: ~/.config/aimachine/gateway.key\n", "")),
     "gateway.master_key_file", "the gateway needs a master key", "gateway:\n"),
    ("key-inline", catalog(GATEWAY.replace("~/.config/aimachine/gateway.key", "sk-0123456789abcdef0123")),
     "gateway.master_key_file", "the key itself never goes into the catalog", "master_key_file:"),
    ("strategy", catalog(GATEWAY + "  routing_strategy: cost-based-routing\n"), "gateway.routing_strategy",
     "one of 'simple-shuffle', 'least-busy', 'latency-based-routing', 'usage-based-routing-v2'",
     "routing_strategy:"),
    ("bind-hostname", catalog(GATEWAY + "  bind: gateway.lan:4000\n"), "gateway.bind", "IP:port", "bind:"),
    ("unknown-key", catalog(GATEWAY + "  routing: least-busy\n"), "gateway.routing",
     "did you mean 'routing_strategy'?", "routing:"),
    ("fronted-on-dhcp", catalog(GATEWAY, vm("vm-a", 140, "192.168.0.140/24"), vm("vm-b", 141)),
     "vms[1].ipv4", "must not move with a DHCP lease", None),
    ("gateway-vm-on-dhcp", catalog(GATEWAY, vm("vm-a", 140), vm("vm-b", 141, "192.168.0.141/24")),
     "vms[0].ipv4", "admit it by its address", None),
    ("fronted-without-firewall", catalog(GATEWAY, vm("vm-a", 140, "192.168.0.140/24"),
                                         vm("vm-b", 141, "192.168.0.141/24", firewall="false")),
     "vms[1].firewall.enabled", "reaches them with no key", None),
    ("port-of-ssh", catalog(GATEWAY + "  bind: 0.0.0.0:22\n"), "gateway.bind", "SSH listens on 22", "bind:"),
    ("port-of-vllm", catalog(GATEWAY + "  bind: 0.0.0.0:8000\n"), "gateway.bind",
     "services.vllm on vm-a listens on 8000", "bind:"),
    ("nothing-to-route", catalog(GATEWAY, vm("vm-a", 140).replace(
        "vllm: {model: Qwen/Qwen2.5-7B-Instruct-AWQ}", "vllm: {enabled: false}").replace(
        "ollama: {models: [llama3.2:3b]}", "ollama: {models: []}")), "gateway.vm",
     "no VM of the catalog serves", "vm: vm-a"),
]


@pytest.mark.parametrize(("text", "path", "phrase", "line_text"), [c[1:] for c in BAD],
                         ids=[c[0] for c in BAD])
def test_a_bad_gateway_names_file_line_and_field(text, path, phrase, line_text):
    assert_problem(text, path, phrase, line_text)


def test_a_bad_gateway_through_validate_is_exit_2(tmp_path):
    bad = tmp_path / "c.yml"
    bad.write_text(BAD[0][1])
    result = CliRunner().invoke(cli, ["catalog", "validate", "--catalog", str(bad)])
    assert result.exit_code == 2 and f"{bad}:{line_of(BAD[0][1], 'vm: vm-aa')}: gateway.vm: " in result.output


def write_key(path, text: str = "sk-" + "ab" * 24 + "\n", mode: int = 0o600):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_master_key_is_read_only_from_a_private_one_line_file(tmp_path):
    key = write_key(tmp_path / "k")
    assert gw.read_master_key(str(key)) == "sk-" + "ab" * 24
    with pytest.raises(gw.KeyFileError, match="does not exist"):
        gw.read_master_key(str(tmp_path / "none"))
    with pytest.raises(gw.KeyFileError, match=r"readable by others \(mode 644\): chmod 600"):
        gw.read_master_key(str(write_key(tmp_path / "open", mode=0o644)))
    for text in ("short\n", "sk-" + "a" * 30 + "\nsecond line\n", "sk- with spaces in it ok\n",
                 'sk-"quoted-0123456789"\n', ""):
        with pytest.raises(gw.KeyFileError, match="must hold one line") as err:
            gw.read_master_key(str(write_key(tmp_path / "bad", text)))
        assert text.strip() == "" or text.strip() not in str(err.value)  # never echoes the key
    with pytest.raises(gw.KeyFileError, match="is not a file"):
        gw.read_master_key(str(tmp_path))


def test_the_key_file_is_not_read_at_load_but_validate_checks_it(admin_home, tmp_path):
    path = tmp_path / "c.yml"
    path.write_text(catalog(GATEWAY, vm("vm-a", 140, "192.168.0.140/24")))
    parse_catalog(path.read_text())  # no key file: loading does not look
    result = CliRunner().invoke(cli, ["catalog", "validate", "--catalog", str(path)])
    assert result.exit_code == 2
    line = line_of(path.read_text(), "master_key_file:")
    assert f"{path}:{line}: gateway.master_key_file: {admin_home}/.config/aimachine/gateway.key does not " \
           "exist" in result.output
    write_key(admin_home / ".config" / "aimachine" / "gateway.key")
    result = CliRunner().invoke(cli, ["catalog", "validate", "--catalog", str(path)])
    assert result.exit_code == 0, result.output
    assert "gateway on vm-a: 2 model names (Qwen/Qwen2.5-7B-Instruct-AWQ, llama3.2:3b)" in result.output
    assert "sk-" not in result.output


def test_the_gateway_is_applied_to_a_copy():
    """dataclasses.replace keeps the schema's objects frozen: the catalog's own VM is never edited."""
    cat = parse_catalog(catalog())
    b = cat.vms[1]
    assert dataclasses.replace(b, fronted=None).fronted is None and b.fronted is not None
