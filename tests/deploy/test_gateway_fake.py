"""The gateway step through pyinfra's @fake connector (tests/golden/gateway-catalog.yml): the gateway's VM
gets LiteLLM's user, venv, files and unit in order, a converged one gets nothing, a changed key restarts it,
every other VM (and the shipped catalog, which has no gateway) gets no operation; the key is in no
operation's name and no command sent."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from aimachine.catalog.gateway import LITELLM_VERSION
from aimachine.catalog.schema import Vm, load_catalog
from aimachine.configure.steps import STEPS
from aimachine.guest import rendered
from tests.conftest import ROOT
from tests.deploy.fakehost import run_fake
from tests.deploy.ubuntu_host import UbuntuHost, converged, fresh
from tests.golden import GATEWAY_GOLDEN, gateway_catalog

KEY = "sk-fake0gateway0key0" + "5a" * 20  # a test key: the point is that it never shows


def key_file(folder: Path, key: str = KEY) -> Path:
    path = folder / "gateway.key"
    path.write_text(key + "\n")
    os.chmod(path, 0o600)
    return path


def gateway_vm(folder: Path, key: str = KEY) -> Vm:
    vm = gateway_catalog().vm("vm-llm-aimachine")
    assert vm.runs_gateway is not None
    gateway = dataclasses.replace(vm.runs_gateway, master_key_file=str(key_file(folder, key)))
    return dataclasses.replace(vm, runs_gateway=gateway)


def converged_gateway(vm: Vm, key: str = KEY) -> UbuntuHost:
    """The gateway's VM after a successful run: the reviewed config and unit (tests/golden/gateway), the key
    file as the step writes it, the venv with LiteLLM, its user and its unit running."""
    host = converged(vm)
    golden = GATEWAY_GOLDEN / vm.name
    for made in rendered.gateway_files(vm.runs_gateway):
        host.files.append(dataclasses.replace(made, content=(golden / made.path.lstrip("/")).read_text()))
    host.files.append(rendered.ManagedFile(rendered.GATEWAY_KEY_ENV, f"LITELLM_MASTER_KEY={key}\n", "600"))
    host.files.append(rendered.ManagedFile(f"{rendered.GATEWAY_VENV}/bin/activate", "# venv"))
    host.dirs["/etc/litellm"] = ("root", "root", "755")
    host.dirs[rendered.GATEWAY_HOME] = ("litellm", "litellm", "755")
    host.users["litellm"] = (rendered.GATEWAY_HOME, "/usr/sbin/nologin")
    host.packages["python3.12-venv"] = host.packages["curl"] = "1"
    host.litellm_version = LITELLM_VERSION
    host.units.append("aimachine-gateway")
    return host


def test_a_fresh_gateway_vm_gets_litellm_its_files_and_its_unit_in_order(tmp_path):
    vm = gateway_vm(tmp_path)
    run = run_fake([STEPS["gateway"]], fresh(vm).responses(), vm=vm)
    assert not run.failed, run.error
    assert run.changed == [
        "gateway | apt-get update (to install python3.12-venv)",
        "gateway | Install Python 3.12 venv support, curl: python3.12-venv",
        "gateway | System user litellm",
        "gateway | venv /opt/litellm/venv (Python 3.12)",
        f"gateway | LiteLLM {LITELLM_VERSION} (proxy) in /opt/litellm/venv (from https://pypi.org/simple)",
        "gateway | Directory /etc/litellm",
        "gateway | Write /etc/litellm/config.yaml",
        "gateway | Write /etc/litellm/master-key.env",
        "gateway | Write /etc/systemd/system/aimachine-gateway.service",
        "gateway | systemctl daemon-reload",
        "gateway | aimachine-gateway enabled and running",
    ]
    # one index, litellm and its proxy's requirements less what PyPI lacks; no GPU groups for its user
    pip = [c for c in run.executed if "/bin/pip install" in c]
    assert len(pip) == 1 and pip[0].startswith(
        f"/opt/litellm/venv/bin/pip install --no-input --index-url https://pypi.org/simple "
        f"litellm=={LITELLM_VERSION} ")
    assert "--extra-index-url" not in pip[0] and "litellm-proxy" not in pip[0]
    assert not [c for c in run.executed if "useradd" in c and ("render" in c or "video" in c)]
    # the key file is root's, 600
    assert any(c.startswith("chmod 600 /etc/litellm/master-key.env") for c in run.executed)


def test_the_key_is_in_no_operation_name_and_no_command(tmp_path):
    vm = gateway_vm(tmp_path)
    for host in (fresh(vm), converged_gateway(vm, key="sk-an0ther0key0" + "0" * 30)):
        run = run_fake([STEPS["gateway"]], host.responses(), vm=vm)
        assert not run.failed, run.error
        assert not [n for n in run.names if KEY in n]
        assert not [c for c in run.executed if KEY in c]


def test_a_converged_gateway_vm_gets_zero_changes(tmp_path):
    vm = gateway_vm(tmp_path)
    run = run_fake([STEPS["gateway"]], converged_gateway(vm).responses(), vm=vm)
    assert not run.failed, run.error
    assert run.changed == []
    assert not [c for c in run.executed if "/bin/pip " in c or "systemctl restart" in c]


@pytest.mark.parametrize("what", ["key", "config", "litellm"])
def test_a_changed_key_config_or_release_restarts_the_gateway(tmp_path, what):
    vm = gateway_vm(tmp_path)
    host = converged_gateway(vm)
    if what == "key":
        host = converged_gateway(vm, key="sk-the0old0key0" + "1" * 30)
    elif what == "config":
        host.files = [f for f in host.files if f.path != rendered.GATEWAY_CONFIG]
    else:
        host.litellm_version = "1.109.3"
    run = run_fake([STEPS["gateway"]], host.responses(), vm=vm)
    assert not run.failed, run.error
    assert run.changed[-1] == "gateway | Restart aimachine-gateway for the new settings"
    assert len(run.changed) == 2


def test_no_gateway_operation_on_a_fronted_vm_nor_for_the_shipped_catalog(tmp_path):
    fronted = gateway_catalog().vm("vm-llm-second")
    shipped = load_catalog(ROOT / "catalog.yml").vms[0]
    for vm in (fronted, shipped):
        assert run_fake([STEPS["gateway"]], fresh(vm).responses(), vm=vm).names == []


def test_a_key_file_others_can_read_stops_the_step_before_any_change(tmp_path):
    vm = gateway_vm(tmp_path)
    os.chmod(vm.runs_gateway.master_key_file, 0o644)
    run = run_fake([STEPS["gateway"]], fresh(vm).responses(), vm=vm)
    assert run.failed
    assert [n for n in run.names if n.startswith("gateway | Stop: gateway.master_key_file: ")
            and "chmod 600" in n]
    assert run.changed == []
