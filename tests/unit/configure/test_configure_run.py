"""`aimachine configure`: progress, failure reports and totals from pyinfra's real output, and the
command end to end against pyinfra's @fake connector (no network: the inventory's host is @fake)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aimachine.catalog.schema import load_catalog
from aimachine.configure.inventory import host_data
from aimachine.configure.launcher import failing_operation, outcome_from_json, progress_line
from tests.conftest import FIXTURES, ROOT, run_aimachine

FAKE = {"AIMACHINE_SSH_HOST": "@fake/vm", "PYINFRA_FAKE_DELAY": "0", "PYINFRA_FAKE_DELAY_JITTER": "0"}


def test_failing_shell_operation_is_named_with_its_output():
    name, output = failing_operation((FIXTURES / "pyinfra-stderr.sha256-mismatch.txt").read_text())
    assert name == "ollama | Download Ollama 0.13.5 (sha256 abababababab... from the catalog)"
    assert "[10.213.0.2] SHA256 did not match!" in output.splitlines()


def test_stop_shows_its_message_without_a_traceback():
    name, output = failing_operation((FIXTURES / "pyinfra-stderr.stop.txt").read_text())
    assert name.startswith("base | Stop: the VM runs unknown; supported: Ubuntu 24.04")
    assert "Traceback" not in output and "File " not in output


def test_failure_before_any_operation_shows_the_log_tail():
    name, output = failing_operation("--> Loading inventory...\nconnection refused\n")
    assert name.startswith("before any operation") and "connection refused" in output


def test_progress_shows_operations_and_results_only():
    assert progress_line("--> Starting operation: vllm | Write /etc/x \n") == "  vllm | Write /etc/x"
    assert progress_line("    [10.0.0.2] No changes\n") == "    [10.0.0.2] No changes"
    assert progress_line("--> Loading config...\n") is None


def test_totals_count_changed_operations():
    results = {"operations": [{"name": "a", "success": ["h"]}, {"name": "b", "success": []}],
               "totals": {"hosts": 2, "success": 1, "error": 0, "no_change": 1}, "failed_hosts": []}
    outcome = outcome_from_json(json.dumps({"plan": [], "results": results}), dry=False)
    assert (outcome.changed, outcome.unchanged, outcome.operations) == (1, 1, ["a"])


def test_host_data_from_catalog_and_overrides():
    vm = load_catalog(ROOT / "catalog.yml").vms[0]
    data = host_data(vm, env={})
    assert (data["ssh_user"], data["ssh_port"], data["_sudo"]) == ("ubuntu", 22, True)
    assert data["ssh_key"].endswith("/.ssh/id_ed25519") and data["vm"] is vm
    assert data["upgrade_driver"] is False
    data = host_data(vm, env={"AIMACHINE_SSH_USER": "root", "AIMACHINE_SSH_PORT": "2222",
                              "AIMACHINE_UPGRADE_DRIVER": "1"})
    assert (data["ssh_user"], data["ssh_port"], "_sudo" in data) == ("root", 2222, False)
    assert data["upgrade_driver"] is True


def test_configure_without_an_address_says_what_to_do(tmp_path):
    result = run_aimachine("configure", "vm-llm-aimachine", env={"AIMACHINE_STATE_DIR": str(tmp_path)})
    assert result.returncode == 6
    assert "no address known for vm-llm-aimachine" in result.stderr
    assert "remedy: run `aimachine provision vm-llm-aimachine`" in result.stderr
    assert "Traceback" not in result.stderr


def test_configure_unknown_vm_is_a_catalog_error():
    result = run_aimachine("configure", "vm-nope", env=FAKE)
    assert result.returncode == 2 and "no VM named 'vm-nope'" in result.stderr


def test_configure_stops_with_exit_6_and_the_failing_operation():
    result = run_aimachine("configure", "vm-llm-aimachine", env=FAKE)
    assert result.returncode == 6
    assert "failed at: base | Stop: the VM runs unknown; supported: Ubuntu 24.04" in result.stderr
    assert "remedy: fix the cause shown above and run `aimachine configure vm-llm-aimachine` again" in \
        result.stderr
    assert "Traceback" not in result.stderr


def test_configure_streams_progress_and_counts_changes():
    dry = run_aimachine("configure", "vm-llm-aimachine", "--steps", "monitoring", "--dry", env=FAKE)
    assert dry.returncode == 0, dry.stderr
    assert "  would change: monitoring | Write /usr/local/bin/gpu-status" in dry.stdout
    assert "7 operations would change" in dry.stdout
    run = run_aimachine("configure", "vm-llm-aimachine", "--steps", "monitoring", env=FAKE)
    assert run.returncode == 0, run.stderr
    assert "  monitoring | Write /usr/local/bin/gpu-status\n    [@fake/vm] Success" in run.stdout
    assert "configure vm-llm-aimachine: 6 operations changed, 1 already as the catalog says" in run.stdout


def test_inventory_lists_vms_with_an_address_and_names_the_others(tmp_path, monkeypatch, capsys):
    import dataclasses

    from aimachine.configure.inventory import NoAddress, inventory_hosts
    from aimachine.reach.state import update

    catalog = load_catalog(ROOT / "catalog.yml")
    other = dataclasses.replace(catalog.vms[0], name="vm-other", vmid=141)
    catalog = dataclasses.replace(catalog, vms=[catalog.vms[0], other])
    monkeypatch.setenv("AIMACHINE_STATE_DIR", str(tmp_path))
    for var in ("AIMACHINE_VM", "AIMACHINE_SSH_HOST"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(NoAddress, match="no address known for vm-llm-aimachine"):
        inventory_hosts(catalog)
    update("vm-other", address="10.1.2.3")
    hosts = inventory_hosts(catalog)
    assert [(name, data["vm"].name) for name, data in hosts] == [("10.1.2.3", "vm-other")]
    assert "skipped: no address known for vm-llm-aimachine" in capsys.readouterr().err
    monkeypatch.setenv("AIMACHINE_VM", "vm-other")
    assert inventory_hosts(catalog)[0][0] == "10.1.2.3"


def test_upgrade_driver_runs_the_nvidia_step_alone():
    result = run_aimachine("configure", "vm-llm-aimachine", "--upgrade-driver", env=FAKE)
    assert "configure vm-llm-aimachine at @fake/vm (driver upgrade):" in result.stdout
    # the bare fake host has no ubuntu-drivers: the nvidia step stops, and no other step ran before it
    assert result.returncode == 6
    assert "failed at: nvidia | Stop: ubuntu-drivers was not installed" in result.stderr
    assert "  base | " not in result.stdout and "  nvidia | " in result.stdout


def test_upgrade_driver_with_steps_is_a_usage_error():
    result = run_aimachine("configure", "vm-llm-aimachine", "--upgrade-driver", "--steps", "base", env=FAKE)
    assert result.returncode == 2 and "--upgrade-driver runs the nvidia step alone" in result.stderr


@pytest.mark.parametrize("deploy_file", ["deploy.py", "aimachine/configure/vm.py"])
def test_plain_pyinfra_runs_the_configuration(deploy_file):
    """The design card's line, `pyinfra inventory.py deploy`, as pyinfra 3 takes it (`deploy.py`), and the
    deploy file aimachine itself runs: the same operations, planned against the @fake connector."""
    pyinfra = str(Path(sys.executable).with_name("pyinfra"))
    env = {**os.environ, **FAKE, "AIMACHINE_VM": "vm-llm-aimachine", "AIMACHINE_STEPS": "security",
           "AIMACHINE_CATALOG": str(ROOT / "catalog.yml")}
    result = subprocess.run([pyinfra, "--dry", "inventory.py", deploy_file], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "security | Write /etc/ssh/sshd_config.d/50-aimachine.conf" in out
    assert "security | ufw: deny incoming, allow tcp 22 from 192.168.0.0/24" in out
