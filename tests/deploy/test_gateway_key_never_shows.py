"""The gateway's master key never shows: pyinfra's real CLI runs the gateway step on an @fake host (the
inventory below answers its facts from tests/deploy/ubuntu_host.py) with every output it has (--json, -vvv,
--debug, --debug-operations, the plan without -y), and `aimachine configure`'s own run of it; the full
stdout and stderr hold the operation that writes the key file, and not the key. --diff would print an
uploaded file's content: the step stops before reading the key."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from aimachine.configure import launcher
from tests.conftest import ROOT
from tests.golden import GATEWAY_CATALOG

KEY = "sk-never0shown0" + "c3" * 20
INVENTORY = '''
import os
from aimachine.catalog.schema import load_catalog
from aimachine.configure.inventory import host_data
from tests.deploy.ubuntu_host import {model}
vm = load_catalog(os.environ["AIMACHINE_CATALOG"]).vm("vm-llm-aimachine")
data = host_data(vm)
data.update(fake_responses={model}(vm).responses(), fake_delay=0, fake_delay_jitter=0)
vms = [("@fake/vm", data)]
'''


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    key = tmp_path / "gateway.key"
    key.write_text(KEY + "\n")
    os.chmod(key, 0o600)
    catalog = tmp_path / "catalog.yml"
    catalog.write_text("".join(
        f"  master_key_file: {key}\n" if line.startswith("  master_key_file:") else line
        for line in GATEWAY_CATALOG.read_text().splitlines(keepends=True)))
    inventory = tmp_path / "inventory.py"
    inventory.write_text(INVENTORY.format(model="fresh"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AIMACHINE_CATALOG": str(catalog),
           "AIMACHINE_VM": "vm-llm-aimachine", "AIMACHINE_STEPS": "gateway",
           "AIMACHINE_STATE_DIR": str(tmp_path / "state")}
    return catalog, inventory, env


@pytest.mark.parametrize("flags", [["-y", "--json"], ["-y", "--json", "-vvv"], ["-y", "-vvv", "--debug"],
                                   ["--json"], ["-y", "--json", "--debug-operations"]])
def test_pyinfra_prints_the_key_files_operation_and_never_the_key(setup, flags):
    catalog, inventory, env = setup
    run = subprocess.run([launcher.pyinfra_bin(), *flags, str(inventory), str(launcher.DEPLOY_FILE)],
                         cwd=catalog.parent, env=env, capture_output=True, text=True, timeout=120)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    assert "Write /etc/litellm/master-key.env" in output
    assert KEY not in output


def test_with_diff_the_step_stops_before_the_key_is_read(setup):
    catalog, inventory, env = setup
    run = subprocess.run([launcher.pyinfra_bin(), "-y", "--diff", str(inventory), str(launcher.DEPLOY_FILE)],
                         cwd=catalog.parent, env=env, capture_output=True, text=True, timeout=120)
    output = run.stdout + run.stderr
    assert run.returncode != 0 and "run it without pyinfra's --diff" in output
    assert KEY not in output and "master-key.env" not in output


def test_aimachine_configures_the_gateway_and_says_nothing_of_the_key(setup, monkeypatch):
    catalog, inventory, env = setup
    monkeypatch.setattr(launcher, "INVENTORY", inventory)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("AIMACHINE_STATE_DIR", env["AIMACHINE_STATE_DIR"])
    shown: list[str] = []
    outcome = launcher.configure(str(catalog), "vm-llm-aimachine", steps="gateway", echo=shown.append)
    assert "gateway | Write /etc/litellm/master-key.env" in outcome.operations
    assert KEY not in "\n".join(shown) + repr(outcome)
