"""The firewall step (configure --steps security) applied for real to the Debian systemd test host:
ufw 0.36.2 prints a single address without its /32, and the step must still see its own rules (0
changes on the second run) and close what the catalog no longer asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

from aimachine.guest.parsers import parse_ufw_status
from aimachine.rehearsal.guest import TEST_NET, NspawnHost
from tests.conftest import run_aimachine
from tests.harness.catalog import SHIPPED_VM, build_catalog

pytestmark = pytest.mark.nspawn
CLIENT = TEST_NET.host_ip  # where this machine's SSH reaches the test host from
WIDE = "10.213.0.0/30"  # the network test_configure_nspawn leaves behind, and this test too


def configure(host: NspawnHost, folder: Path, network: str, expose_ollama: bool) -> str:
    catalog = build_catalog(folder, {"login.ssh_public_key_file": f"{host.key}.pub",
                                     "firewall.admin_network": network,
                                     "services.ollama.expose": expose_ollama})
    env = {"AIMACHINE_SSH_HOST": host.address, "AIMACHINE_SSH_KEY": str(host.key),
           "AIMACHINE_SSH_KNOWN_HOSTS": str(host.known_hosts)}
    result = run_aimachine("configure", SHIPPED_VM, "--steps", "security", "--catalog", str(catalog),
                           env=env, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def rules(host: NspawnHost) -> list[str]:
    done = host.ssh("sudo ufw status verbose")
    assert done.returncode == 0, done.stdout + done.stderr
    return parse_ufw_status(done.stdout).rules


def test_a_single_address_converges_and_unexposed_ports_close(nspawn_host, tmp_path):
    host, single = nspawn_host, f"{CLIENT}/32"
    configure(host, tmp_path, single, expose_ollama=True)
    assert rules(host) == [f"22/tcp ALLOW IN {CLIENT}", f"11434/tcp ALLOW IN {CLIENT}"]  # ufw drops /32
    again = configure(host, tmp_path, single, expose_ollama=True)
    assert f"configure {SHIPPED_VM}: 0 operations changed" in again

    # Ollama no longer exposed: its rule goes, and the run after changes nothing
    configure(host, tmp_path, single, expose_ollama=False)
    assert rules(host) == [f"22/tcp ALLOW IN {CLIENT}"]
    assert "0 operations changed" in configure(host, tmp_path, single, expose_ollama=False)

    # another admin network: SSH from it is allowed first, then the old address's rule is removed
    configure(host, tmp_path, WIDE, expose_ollama=False)
    assert rules(host) == [f"22/tcp ALLOW IN {WIDE}"]
    assert "0 operations changed" in configure(host, tmp_path, WIDE, expose_ollama=False)
