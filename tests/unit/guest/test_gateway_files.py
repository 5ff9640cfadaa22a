"""The gateway's rendered files (tests/golden/gateway/, from tests/golden/gateway-catalog.yml): LiteLLM's
config and its unit on the gateway's VM, the engines moved to the fronted VM's address, each VM's ufw
commands. The shipped catalog, without a gateway, renders none of them."""

from __future__ import annotations

import yaml

from aimachine.catalog import gateway as gw
from aimachine.guest import rendered
from tests.golden import (
    GATEWAY_GOLDEN,
    gateway_catalog,
    gateway_rendered,
    golden_path,
    rendered_files,
    shipped_vm,
)


def test_each_gateway_file_is_its_golden_copy_and_none_is_left_over():
    made = gateway_rendered()
    for name, content in made.items():
        path = GATEWAY_GOLDEN / name
        assert path.is_file(), f"no golden file {path}: run python -m tests.golden.regenerate"
        assert content.encode() == path.read_bytes(), f"{name} differs from {path}"
    assert {p for p in GATEWAY_GOLDEN.rglob("*") if p.is_file()} == {GATEWAY_GOLDEN / n for n in made}


def test_the_shipped_catalog_renders_no_gateway_file():
    paths = {f.path for f in rendered_files(shipped_vm())}
    assert not paths & {rendered.GATEWAY_CONFIG, rendered.GATEWAY_UNIT, rendered.GATEWAY_KEY_ENV}


def test_the_gateways_own_vm_keeps_its_engines_as_the_shipped_catalog_has_them():
    """The gateway reaches its own VM's engines on loopback: their files are the shipped golden ones."""
    host = gateway_catalog().vms[0]
    for made in [rendered.vllm_unit(host.services.vllm), *rendered.ollama_files(host.services)]:
        assert made.content == golden_path(made.path).read_text(), made.path


def test_the_config_routes_every_engine_and_holds_no_key():
    cat = gateway_catalog()
    made = rendered.gateway_config(cat.gateway)
    assert (made.path, made.mode) == ("/etc/litellm/config.yaml", "644")
    config = yaml.safe_load(made.content)
    assert config["model_list"] == gw.model_list(cat.gateway.routes)
    assert {e["model_name"] for e in config["model_list"]} == {
        "Qwen/Qwen2.5-7B-Instruct-AWQ", "llama3.2:3b", "qwen2.5-coder:7b"}
    assert config["router_settings"] == {"routing_strategy": "least-busy", "num_retries": 2,
                                         "allowed_fails": 1, "cooldown_time": 30}
    assert config["general_settings"] == {"master_key": "os.environ/LITELLM_MASTER_KEY"}


def test_the_unit_runs_litellm_from_its_venv_as_its_own_user_with_the_key_from_root_s_file():
    unit = rendered.gateway_unit(gateway_catalog().gateway)
    assert unit.path == "/etc/systemd/system/aimachine-gateway.service"
    lines = unit.content.splitlines()
    for line in ("User=litellm", "EnvironmentFile=/etc/litellm/master-key.env", "Restart=on-failure",
                 "ExecStart=/opt/litellm/venv/bin/litellm --config /etc/litellm/config.yaml --host 0.0.0.0 "
                 "--port 4000", "PrivateDevices=yes",
                 "Environment=LITELLM_OFFLINE_MODE=true"):
        assert line in lines, line


def test_the_key_file_is_roots_alone():
    made = rendered.gateway_key_env("sk-" + "ab" * 24)
    assert (made.path, made.mode, made.content) == ("/etc/litellm/master-key.env", "600",
                                                    "LITELLM_MASTER_KEY=sk-" + "ab" * 24 + "\n")
