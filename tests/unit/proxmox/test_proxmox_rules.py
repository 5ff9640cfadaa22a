"""Pure rules of the Proxmox side: preflight judgements, error translation, address, cloud-init."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aimachine.catalog.schema import load_catalog
from aimachine.errors import PhaseError
from aimachine.proxmox import preflight as pf
from aimachine.proxmox.cloudinit import read_public_key, render_user_data, snippet_volume
from aimachine.proxmox.credentials import credentials_from_env
from aimachine.proxmox.messages import translate
from aimachine.reach.address import agent_ipv4
from tests.pve_sim.cli_env import PUBLIC_KEY, write_catalog
from tests.pve_sim.fixture import healthy_state


@pytest.fixture
def cat(tmp_path: Path):
    return load_catalog(write_catalog(tmp_path))


def _facts(state: dict) -> pf.HostFacts:
    node = state["nodes"]["android-19"]
    vms = [{"vmid": i, "name": v["name"], "node": "android-19", "status": v["status"]}
           for i, v in node["vms"].items()]
    return pf.HostFacts(node="android-19", nodes=[{"node": "android-19", "status": node["status"],
                                                   "maxcpu": 64, "maxmem": node["maxmem"]}],
                        vms=vms, configs={i: v["config"] for i, v in node["vms"].items()},
                        pci=node["pci"], storages={k: v for k, v in node["storage"].items()},
                        image_volumes=node["storage"]["local"]["volumes"],
                        mappings=[{"id": k, "map": v["map"]} for k, v in state["mappings"]["pci"].items()])


def test_healthy_facts_have_no_fail(cat) -> None:
    findings = pf.judge(cat, cat.vms[0], _facts(healthy_state()))
    assert pf.failed(findings) == []


@pytest.mark.parametrize("entry", ["0000:01:00.0,pcie=1,x-vga=1", "host=0000:03:00.0;0000:01:00.1,pcie=1",
                                   "01:00,pcie=1"])
def test_raw_hostpci_of_a_running_vm_holds_the_gpu(cat, entry) -> None:
    state = healthy_state()
    vm120 = state["nodes"]["android-19"]["vms"][120]
    vm120["status"], vm120["config"] = "running", {"hostpci1": entry}
    finding = pf.check_gpu_free(cat.vms[0], _facts(state))
    assert finding.level == "FAIL" and "hostpci1" in finding.remedy


def test_a_mapping_elsewhere_fails(cat) -> None:
    state = healthy_state()
    state["mappings"]["pci"]["rtx5060ti"] = {"map": ["node=android-19,path=0000:02:00,id=144d:a808"]}
    assert pf.check_mapping(cat.vms[0], _facts(state), "api-token").level == "FAIL"


def test_snippets_content_missing_names_the_pvesm_command(cat) -> None:
    state = healthy_state()
    state["nodes"]["android-19"]["storage"]["local"]["content"] = "iso,vztmpl"
    finding = pf.check_snippets(cat, _facts(state))
    assert finding.remedy == "`pvesm set local --content iso,vztmpl,snippets` on the node"


def test_translate_known_and_unknown_errors() -> None:
    msg, remedy = translate("Error: start failed: PCI device '0000:01:00.0' already in use by VMID '120'",
                            {120: "gaming"})
    assert msg == "the GPU 0000:01:00.0 is already in use by VM 120 'gaming'"
    assert "qm stop 120" in remedy
    msg, _ = translate("noise\nError: something new happened\n")
    assert msg == "Error: something new happened"


def test_agent_ipv4_skips_loopback_link_local_and_ipv6() -> None:
    answer = {"result": [
        {"name": "lo", "ip-addresses": [{"ip-address": "127.0.0.1", "ip-address-type": "ipv4"}]},
        {"name": "eth0", "ip-addresses": [{"ip-address": "fe80::1", "ip-address-type": "ipv6"},
                                          {"ip-address": "169.254.3.4", "ip-address-type": "ipv4"},
                                          {"ip-address": "192.168.0.140", "ip-address-type": "ipv4"}]}]}
    assert agent_ipv4(answer) == "192.168.0.140"
    assert agent_ipv4({"result": []}) is None


def test_user_data_has_user_key_agent_and_hostname(cat) -> None:
    text = render_user_data(cat.vms[0], PUBLIC_KEY)
    assert text.startswith("#cloud-config\n")
    doc = yaml.safe_load(text)
    assert doc["hostname"] == "vm-llm-aimachine"
    assert doc["users"][0]["name"] == "ubuntu"
    assert doc["users"][0]["ssh_authorized_keys"] == [PUBLIC_KEY]
    assert "qemu-guest-agent" in doc["packages"]
    assert snippet_volume(cat, cat.vms[0]) == "local:snippets/vm-llm-aimachine-user-data.yaml"


def test_missing_or_private_key_file_is_a_clear_error(cat, tmp_path: Path) -> None:
    (tmp_path / "id_test.pub").unlink()
    with pytest.raises(PhaseError, match="does not exist"):
        read_public_key(cat.vms[0])
    (tmp_path / "id_test.pub").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n")
    with pytest.raises(PhaseError, match="not one OpenSSH public key line") as err:
        read_public_key(cat.vms[0])
    assert "never the private key" in err.value.remedy


def test_credentials_never_echo_the_secret() -> None:
    secret = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
    creds = credentials_from_env({"PROXMOX_VE_ENDPOINT": "https://127.0.0.1:8006",
                                  "PROXMOX_VE_API_TOKEN": f"ops@pve!deploy={secret}",
                                  "PROXMOX_VE_INSECURE": "true"})
    assert (creds.user, creds.token_name, creds.insecure) == ("ops@pve", "deploy", True)
    assert creds.redact(f"header PVEAPIToken=ops@pve!deploy={secret}") == \
        "header PVEAPIToken=ops@pve!deploy=***"
    with pytest.raises(PhaseError) as err:
        credentials_from_env({"PROXMOX_VE_ENDPOINT": "https://h:8006/api2/json",
                              "PROXMOX_VE_API_TOKEN": "s3cr3t-value"})
    assert "s3cr3t-value" not in str(err.value) and "without /api2/json" in str(err.value)


def test_ssh_agent_check_warns_without_an_agent() -> None:
    assert pf.check_ssh_agent({"SSH_AUTH_SOCK": "/run/user/1000/agent.sock"}).level == "ok"
    through_the_api = pf.check_ssh_agent({}, "local:import/noble-server-cloudimg-amd64.qcow2")
    assert through_the_api.level == "ok" and "not needed" in through_the_api.finding
    missing = pf.check_ssh_agent({}, "local:iso/noble-server-cloudimg-amd64.img")
    assert missing.level == "warn" and "ssh-add" in missing.remedy
