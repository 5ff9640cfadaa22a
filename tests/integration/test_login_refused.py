"""When the VM does not let the admin's key in, configure (and plan, which runs it with --dry) says which key
and what to do, with no traceback: real pyinfra and paramiko against a real SSH server on 127.0.0.1 that
refuses every key (tests/harness/refusing_ssh.py). pyinfra printed a Python traceback for a missing or
unreadable private key."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_aimachine
from tests.harness.refusing_ssh import refusing_ssh_server
from tests.pve_sim.cli_env import cli_env, write_catalog
from tests.pve_sim.fixture import healthy_state


def _key(tmp_path: Path, kind: str) -> Path:
    key = tmp_path / f"key-{kind}"
    if kind == "refused":
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    elif kind == "not a key":
        key.write_text("not a key\n")
    return key


@pytest.mark.parametrize(("kind", "message", "remedy"), [
    ("refused", "vm-llm-aimachine: the VM refused the key {key} for ubuntu",
     "use the private key of login.ssh_public_key_file"),
    ("missing", "vm-llm-aimachine: the private key {key} does not exist",
     "set login.ssh_private_key_file"),
    ("not a key", "vm-llm-aimachine: {key} is not a private key pyinfra can read",
     "`ssh-add` it and re-run"),
])
def test_configure_names_the_key_and_the_fix(tmp_path: Path, kind: str, message: str, remedy: str) -> None:
    key = _key(tmp_path, kind)
    with refusing_ssh_server() as port:
        result = run_aimachine(
            "configure", "vm-llm-aimachine", "--catalog", str(write_catalog(tmp_path)), "--steps", "base",
            env={"AIMACHINE_SSH_HOST": "127.0.0.1", "AIMACHINE_SSH_PORT": str(port),
                 "AIMACHINE_SSH_KEY": str(key), "AIMACHINE_SSH_KNOWN_HOSTS": str(tmp_path / "known_hosts")})
    assert result.returncode == 6, result.stdout + result.stderr
    assert result.stderr.startswith("configure: " + message.format(key=key)), result.stderr
    assert remedy in result.stderr and "Traceback" not in result.stdout + result.stderr


def test_plan_says_the_key_was_refused_without_a_traceback(pve_sim, tmp_path: Path) -> None:
    state = healthy_state()
    state["nodes"]["android-19"]["storage"]["local"]["path"] = str(tmp_path / "vz")
    state["nodes"]["android-19"]["vms"][140] = {"name": "vm-llm-aimachine", "status": "running", "config": {}}
    sim = pve_sim(state)
    key = _key(tmp_path, "refused")
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "vm-llm-aimachine.json").write_text('{"address": "127.0.0.1"}')  # provisioned
    with refusing_ssh_server() as port:
        result = run_aimachine(
            "plan", "vm-llm-aimachine", "--catalog", str(write_catalog(tmp_path)), "--steps", "base",
            env=cli_env(sim, tmp_path, AIMACHINE_SSH_HOST="127.0.0.1", AIMACHINE_SSH_PORT=str(port),
                        AIMACHINE_SSH_KEY=str(key), AIMACHINE_SSH_KNOWN_HOSTS=str(tmp_path / "known_hosts")),
            timeout=300)
    out = result.stdout + result.stderr
    assert "Traceback" not in out
    assert f"configure: vm-llm-aimachine: the VM refused the key {key} for ubuntu" in result.stderr, out
    assert sim.changes() == []
