"""Catalog validation: the shipped catalog passes; each bad catalog names file, line, field, exit 2."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from aimachine.catalog.schema import CatalogError, parse_catalog
from aimachine.cli.main import cli
from tests.conftest import ROOT, run_aimachine

SHIPPED = (ROOT / "catalog.yml").read_text()

SECOND_VM = """
  - name: {name}
    vmid: {vmid}
    cores: 4
    memory_mb: 8192
    disk_gb: 64
    storage: local-zfs
    image: local:iso/noble-server-cloudimg-amd64.img
    login: {{ssh_public_key_file: ~/.ssh/id_ed25519.pub}}
    gpu: {{pci_address: "0000:02:00", vendor_device: "10de:2d04", mapping: second}}
    firewall: {{admin_network: 192.168.0.0/24}}
"""


def mutate(old: str, new: str, count: int = 1) -> str:
    assert old in SHIPPED, f"test set-up: {old!r} not in catalog.yml"
    return SHIPPED.replace(old, new, count)


def line_of(text: str, needle: str) -> int:
    """The last line holding `needle`; a needle ending in newline must end the line's value."""
    def hit(line: str) -> bool:
        value = line.split("#")[0].rstrip()
        return value.endswith(needle[:-1]) if needle.endswith("\n") else needle in value
    return [i for i, line in enumerate(text.splitlines(), 1) if hit(line)][-1]


# (id, catalog text, field path expected in the message, a phrase the message must hold,
#  the text of the line the message must point at, or None when the line is the parent's)
BAD = [
    ("yaml-syntax", mutate("cores: 32", "cores: [32"), "not valid YAML", "not valid YAML", None),
    ("unknown-key-near-miss", mutate("memory_mb: 51200", "memroy_mb: 51200"), "vms[0].memroy_mb",
     "did you mean 'memory_mb'?", "memroy_mb"),
    ("unknown-top-key", mutate("proxmox:", "proxmux:"), "proxmux", "did you mean 'proxmox'?", "proxmux:"),
    ("wrong-type-cores", mutate("cores: 32", "cores: many"), "vms[0].cores", "'many' (a string)",
     "cores: many"),
    ("missing-required", mutate("    storage: local-zfs\n", ""), "vms[0].storage", "required", None),
    ("vmid-too-small", mutate("vmid: 140", "vmid: 99"), "vms[0].vmid", "from 100 to 999999999",
     "vmid: 99"),
    ("vmid-too-large", mutate("vmid: 140", "vmid: 1000000000"), "vms[0].vmid", "from 100 to 999999999",
     "vmid: 1000000000"),
    ("duplicate-vmid", SHIPPED + SECOND_VM.format(name="vm-second", vmid=140), "vms[1].vmid",
     "vms[0] already uses it", "vmid: 140\n"),
    ("duplicate-name", SHIPPED + SECOND_VM.format(name="vm-llm-aimachine", vmid=141), "vms[1].name",
     "vms[0] already uses it", None),
    ("cores-zero", mutate("cores: 32", "cores: 0"), "vms[0].cores", "from 1 to 512", "cores: 0"),
    ("cores-absurd", mutate("cores: 32", "cores: 100000"), "vms[0].cores", "from 1 to 512",
     "cores: 100000"),
    ("memory-in-gb", mutate("memory_mb: 51200", "memory_mb: 50GB"), "vms[0].memory_mb",
     "in MB without a suffix: write 51200 for 50GB", "memory_mb: 50GB"),
    ("memory-negative", mutate("memory_mb: 51200", "memory_mb: -1"), "vms[0].memory_mb",
     "from 512 to 4194304", "memory_mb: -1"),
    ("disk-absurd", mutate("disk_gb: 500", "disk_gb: 9999999"), "vms[0].disk_gb", "from 8 to 65536",
     "disk_gb: 9999999"),
    ("disk-in-tb", mutate("disk_gb: 500", "disk_gb: 1TB"), "vms[0].disk_gb", "write 1024 for 1TB",
     "disk_gb: 1TB"),
    ("swap-too-large", mutate("swap_gb: 0", "swap_gb: 2048"), "vms[0].swap_gb", "from 0 to 1024",
     "swap_gb: 2048"),
    ("swap-with-unit", mutate("swap_gb: 0", "swap_gb: 8G"), "vms[0].swap_gb", "write 8 for 8G",
     "swap_gb: 8G"),
    ("pci-malformed", mutate('pci_address: "0000:01:00"', 'pci_address: "01:00.0"'),
     "vms[0].gpu.pci_address", "DDDD:BB:DD", "pci_address:"),
    ("image-as-number", mutate("image: local:iso/noble-server-cloudimg-amd64.img", "image: 1:30"),
     "vms[0].image", "put the value in quotes", "image: 1:30"),
    ("vendor-device-malformed", mutate('vendor_device: "10de:2d04"', 'vendor_device: "10de-2d04"'),
     "vms[0].gpu.vendor_device", "two 4-digit hex ids", "vendor_device:"),
    ("vendor-device-not-hex", mutate('vendor_device: "10de:2d04"', 'vendor_device: "10de:2g04"'),
     "vms[0].gpu.vendor_device", "two 4-digit hex ids", "vendor_device:"),
    ("bind-hostname", mutate("bind: 127.0.0.1:8000", "bind: localhost:8000"),
     "vms[0].services.vllm.bind", "IP:port", "bind: localhost:8000"),
    ("bind-no-port", mutate("bind: 127.0.0.1:11434", "bind: 127.0.0.1"),
     "vms[0].services.ollama.bind", "IP:port", "bind: 127.0.0.1\n"),
    ("endpoint-with-path", mutate("https://192.168.0.19:8006", "https://192.168.0.19:8006/api2/json"),
     "proxmox.endpoint", "leave out /api2/json", "endpoint:"),
    ("duplicate-key", mutate("cores: 32", "cores: 32\n    cores: 16"), "vms[0].cores",
     "found the key twice", "cores: 16"),
    ("old-cuda", mutate("cuda_toolkit: cuda-toolkit-13-0", "cuda_toolkit: cuda-toolkit-12-4"),
     "vms[0].nvidia.cuda_toolkit", "needs CUDA 12.8 or newer", "cuda_toolkit:"),
    ("static-ip-no-gateway", mutate("ipv4: dhcp", "ipv4: 192.168.0.140/24"), "vms[0].gateway",
     "a static ipv4 needs a gateway", None),
    ("key-pasted-inline", mutate("ssh_public_key_file: ~/.ssh/id_ed25519.pub",
                                 "ssh_public_key_file: ssh-ed25519 AAAAC3Nza admin@laptop"),
     "vms[0].login.ssh_public_key_file", "name the file that holds it", "ssh_public_key_file:"),
    ("gpu-utilisation-over-1", mutate("gpu_memory_utilization: 0.5", "gpu_memory_utilization: 50"),
     "vms[0].services.vllm.gpu_memory_utilization", "from 0.05 to 0.98", "gpu_memory_utilization:"),
    ("vm-name-convention", mutate("name: vm-llm-aimachine", "name: llm_box"), "vms[0].name",
     "starting with 'vm-'", "name: llm_box"),
    ("version-as-number", mutate('version: "0.32.0"', "version: 0.32"), "vms[0].services.vllm.version",
     "quote the version", "version: 0.32"),
    # vLLM >= 0.20 says Requires-Python >=3.11 (vllm-0.32.0 wheel METADATA): 3.10 cannot work
    ("vllm-python-3.10", mutate('version: "0.32.0"', 'version: "0.32.0"\n        python: "3.10"'),
     "vms[0].services.vllm.python", "one of '3.11', '3.12', '3.13'", "python:"),
    # Ollama publishes .tgz up to 0.13.x and .tar.zst from 0.14.0: a fixed suffix that does not match 404s
    ("ollama-url-suffix-vs-version",
     mutate('version: "0.32.15"', 'version: "0.13.5"\n        url: "https://mirror.lan/ollama/v{version}/'
            'ollama-linux-amd64.tar.zst"'),
     "vms[0].services.ollama.url", "is published as ollama-linux-amd64.tgz", "url:"),
    ("retired-keyring-checksum",
     mutate("cuda_toolkit: cuda-toolkit-13-0", "cuda_toolkit: cuda-toolkit-13-0\n      cuda_keyring_sha256: "
            + "ab" * 32),
     "vms[0].nvidia.cuda_keyring_sha256", "verified by its signing key's fingerprint",
     "cuda_keyring_sha256:"),
    ("retired-torch-index",
     mutate('version: "0.32.0"',
            'version: "0.32.0"\n        torch_index_url: https://download.pytorch.org/whl/cu129'),
     "vms[0].services.vllm.torch_index_url", "libcudart.so.13", "torch_index_url:"),
    # services.vllm.extra_args against vLLM 0.32.0's own flags (aimachine/catalog/vllm-flags/0.32.0.json)
    ("extra-arg-unknown", mutate("max_model_len: 8192", "max_model_len: 8192\n        extra_args:\n"
                                 "          - --attention-backend\n          - TRITON_ATTN\n"
                                 "          - --enforce-eagre"),
     "vms[0].services.vllm.extra_args[2]", "did you mean '--enforce-eager'?", "- --enforce-eagre"),
    ("extra-arg-set-by-the-catalog", mutate("max_model_len: 8192", "max_model_len: 8192\n"
                                            "        extra_args: [--enforce-eager, --max-model-len, 4096]"),
     "vms[0].services.vllm.extra_args[1]", "services.vllm.max_model_len sets it", "extra_args:"),
    ("extra-arg-twice", mutate("max_model_len: 8192", "max_model_len: 8192\n        extra_args:\n"
                               "          - --enforce-eager\n          - --no-enforce-eager"),
     "vms[0].services.vllm.extra_args[1]", "item 0 already sets it", "- --no-enforce-eager"),
    ("extra-arg-switch-with-value", mutate("max_model_len: 8192", "max_model_len: 8192\n"
                                           "        extra_args: [--enforce-eager, 'yes']"),
     "vms[0].services.vllm.extra_args[0]", "it takes no value", "extra_args:"),
    ("extra-arg-value-missing", mutate("max_model_len: 8192", "max_model_len: 8192\n"
                                       "        extra_args: [--max-num-seqs]"),
     "vms[0].services.vllm.extra_args[0]", "followed by its value", "extra_args:"),
    ("extra-arg-no-flag-list", mutate('version: "0.32.0"', 'version: "0.31.9"\n'
                                      "        extra_args: [--enforce-eager]"),
     "vms[0].services.vllm.extra_args[0]", "no flag list ships for 0.31.9", "extra_args:"),
    # Ollama's model names (types/model/name.go): a scheme is dropped by its pull handler, so plain http
    # is services.ollama.insecure_registries, which must name a registry a model is pulled from
    ("ollama-model-with-scheme", mutate("models: [llama3.2:3b]", "models: [llama3.2:3b, "
                                        "'http://192.168.1.5:5000/library/tiny:latest']"),
     "vms[0].services.ollama.models[1]", "list its host in services.ollama.insecure_registries", "models:"),
    ("ollama-model-host-without-namespace", mutate("models: [llama3.2:3b]",
                                                   "models:\n          - llama3.2:3b\n"
                                                   "          - 192.168.1.5:5000/tiny"),
     "vms[0].services.ollama.models[1]", "HOST[:PORT]/NAMESPACE/MODEL[:TAG]", "- 192.168.1.5:5000/tiny"),
    ("ollama-insecure-registry-unused", mutate("models: [llama3.2:3b]", "models: [llama3.2:3b]\n"
                                               "        insecure_registries:\n          - 192.168.1.5:5000"),
     "vms[0].services.ollama.insecure_registries[0]", "no name in services.ollama.models starts with",
     "- 192.168.1.5:5000"),
    ("ollama-insecure-registry-url", mutate("models: [llama3.2:3b]",
                                            "models: [llama3.2:3b, 192.168.1.5:5000/library/tiny]\n"
                                            "        insecure_registries: ['http://192.168.1.5:5000']"),
     "vms[0].services.ollama.insecure_registries[0]", "without http://", "insecure_registries:"),
    ("empty-vms", "proxmox: {endpoint: 'https://127.0.0.1:8006', node: n}\nvms: []\n", "vms",
     "at least one VM", "vms: []"),
    ("top-level-list", "- a\n- b\n", "(top level)", "a mapping with the keys proxmox, vms", None),
]


@pytest.mark.parametrize(("text", "path", "phrase", "line_text"),
                         [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_catalog_is_reported_with_line_field_and_exit_2(tmp_path, text, path, phrase, line_text):
    bad = tmp_path / "catalog.yml"
    bad.write_text(text)
    result = CliRunner().invoke(cli, ["catalog", "validate", "--catalog", str(bad)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.splitlines() if path in ln and phrase in ln]
    assert lines, f"no line names {path!r} with {phrase!r}:\n{result.output}"
    match = re.match(rf"{re.escape(str(bad))}:(\d+): ", lines[0])
    assert match, f"message does not start with FILE:LINE: {lines[0]}"
    if line_text is not None:
        assert int(match.group(1)) == line_of(text, line_text), lines[0]
    assert "nothing was changed" in result.output


def test_at_least_fifteen_distinct_bad_catalogs():
    assert len({case[2] for case in BAD}) >= 15


def test_all_problems_are_reported_in_one_run():
    text = mutate("cores: 32", "cores: 0").replace("disk_gb: 500", "disk_gb: big")
    text = text.replace('vendor_device: "10de:2d04"', 'vendor_device: "nvidia"')
    with pytest.raises(CatalogError) as err:
        parse_catalog(text, "c.yml")
    joined = "\n".join(err.value.problems)
    for path in ("vms[0].cores", "vms[0].disk_gb", "vms[0].gpu.vendor_device"):
        assert path in joined


def test_shipped_catalog_is_valid_and_complete():
    cat = parse_catalog(SHIPPED)
    vm = cat.vm("vm-llm-aimachine")
    assert (vm.vmid, vm.cores, vm.cpu, vm.memory_mb, vm.disk_gb) == (140, 32, "host", 51200, 500)
    assert (vm.storage, vm.bridge, vm.ipv4) == ("local-zfs", "vmbr0", "dhcp")
    assert vm.image == "local:iso/noble-server-cloudimg-amd64.img"
    assert (vm.gpu.pci_address, vm.gpu.vendor_device, vm.gpu.mapping) == ("0000:01:00", "10de:2d04",
                                                                          "rtx5060ti")
    assert cat.proxmox.endpoint == "https://192.168.0.19:8006"
    assert cat.node_of(vm) == "android-19"
    assert vm.services.vllm.bind == "127.0.0.1:8000"
    assert vm.services.ollama.bind.startswith("127.0.0.1:")


def test_several_vms_in_one_catalog():
    cat = parse_catalog(SHIPPED + SECOND_VM.format(name="vm-second", vmid=141))
    assert [v.name for v in cat.vms] == ["vm-llm-aimachine", "vm-second"]
    assert cat.vm("vm-second").bridge == "vmbr0"  # default applied
    assert cat.vm("vm-second").swap_gb == 0  # no swap file unless asked for
    assert parse_catalog(SHIPPED.replace("swap_gb: 0", "swap_gb: 8")).vms[0].swap_gb == 8
    assert cat.vm("vm-second").services.vllm.bind == "127.0.0.1:8000"


def test_unknown_vm_name_says_what_exists():
    with pytest.raises(CatalogError) as err:
        parse_catalog(SHIPPED).vm("vm-llm-aimachin")
    assert "did you mean 'vm-llm-aimachine'?" in str(err.value)


def test_validate_passes_on_the_shipped_catalog_through_the_console_script(admin_home):
    result = run_aimachine("catalog", "validate")
    assert result.returncode == 0, result.stderr
    assert "vm-llm-aimachine (140)" in result.stdout


def test_validate_fails_when_the_public_key_file_is_missing(tmp_path, monkeypatch):
    """It said ok, and the deploy then stopped on the one field the README asks to fill."""
    monkeypatch.setenv("HOME", str(tmp_path))
    result = run_aimachine("catalog", "validate")
    assert result.returncode == 2, result.stdout
    line = line_of(SHIPPED, "ssh_public_key_file:")
    assert result.stderr.startswith(
        f"catalog.yml:{line}: vms[0].login.ssh_public_key_file: login.ssh_public_key_file "
        f"{tmp_path}/.ssh/id_ed25519.pub does not exist (create a key pair (`ssh-keygen -t ed25519 -f "
        f"{tmp_path}/.ssh/id_ed25519`) or point login.ssh_public_key_file at your .pub file)"), result.stderr
    assert "nothing was changed" in result.stderr and "ok" not in result.stdout
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (tmp_path / ".ssh" / "id_ed25519.pub").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    wrong = run_aimachine("catalog", "validate")
    assert wrong.returncode == 2 and "is not one OpenSSH public key line" in wrong.stderr


def test_bad_catalog_through_the_console_script_has_no_traceback(tmp_path):
    bad = tmp_path / "c.yml"
    bad.write_text(mutate("memory_mb: 51200", "memory_mb: 50GB"))
    result = run_aimachine("catalog", "validate", env={"AIMACHINE_CATALOG": str(bad)})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert f"{bad}:{line_of(bad.read_text(), 'memory_mb: 50GB')}: vms[0].memory_mb" in result.stderr


def test_missing_catalog_file_is_exit_2(tmp_path):
    result = run_aimachine("catalog", "validate", "--catalog", str(tmp_path / "nope.yml"))
    assert result.returncode == 2
    assert "no such file" in result.stderr


def test_show_json_has_the_resolved_entry():
    result = run_aimachine("catalog", "show", "vm-llm-aimachine", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    expected = {"name": "vm-llm-aimachine", "vmid": 140, "node": "android-19", "cores": 32,
                "memory_mb": 51200, "disk_gb": 500, "storage": "local-zfs",
                "image": "local:iso/noble-server-cloudimg-amd64.img", "bridge": "vmbr0"}
    assert {k: data[k] for k in expected} == expected
    assert {k: data["gpu"][k] for k in ("pci_address", "vendor_device", "mapping")} == {
        "pci_address": "0000:01:00", "vendor_device": "10de:2d04", "mapping": "rtx5060ti"}
    assert data["services"]["vllm"]["gpu_memory_utilization"] == 0.5


def test_show_unknown_vm_is_exit_2():
    result = run_aimachine("catalog", "show", "vm-nope")
    assert result.returncode == 2
    assert "no VM named 'vm-nope'" in result.stderr


def test_help_everywhere():
    for args in ([], ["catalog"], ["catalog", "validate"], ["catalog", "show"]):
        result = CliRunner().invoke(cli, [*args, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output


def test_one_typo_is_one_problem():
    """`memroy_mb` was reported twice: as an unknown key and as memory_mb missing."""
    with pytest.raises(CatalogError) as err:
        parse_catalog(mutate("memory_mb: 51200", "memroy_mb: 51200"), "c.yml")
    assert err.value.problems == [
        f"c.yml:{line_of(SHIPPED, 'memory_mb:')}: vms[0].memroy_mb: found unknown key 'memroy_mb'; allowed: "
        "the keys name, vmid, node, cores, cpu, memory_mb, disk_gb, swap_gb, storage, image, bridge, ipv4, "
        "gateway, login, gpu, nvidia, services, firewall (did you mean 'memory_mb'?)"]
    with pytest.raises(CatalogError) as both:  # a key that exists is not what a typo meant
        parse_catalog(mutate("memory_mb: 51200", "memory_mb: 51200\n    memroy_mb: 1"), "c.yml")
    assert len(both.value.problems) == 1 and "did you mean" not in both.value.problems[0]


def test_ollama_models_from_a_registry_on_the_lan():
    lan = "192.168.1.5:5000/library/tiny:latest"
    text = mutate("models: [llama3.2:3b]", f"models: [llama3.2:3b, '{lan}', team/coder]\n"
                  "        insecure_registries: ['192.168.1.5:5000']")
    ollama = parse_catalog(text).vms[0].services.ollama
    assert ollama.models == ["llama3.2:3b", lan, "team/coder"]
    assert ollama.pulls_insecure(lan) and not ollama.pulls_insecure("llama3.2:3b")
    assert not ollama.pulls_insecure("team/coder")
    # the same registry over https: no insecure_registries, no --insecure
    https = parse_catalog(mutate("models: [llama3.2:3b]", f"models: ['{lan}']")).vms[0].services.ollama
    assert https.insecure_registries == [] and not https.pulls_insecure(lan)
    assert parse_catalog(SHIPPED).vms[0].services.ollama.insecure_registries == []
