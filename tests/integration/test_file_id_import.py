"""The shipped catalog's image path: a cloud image in `iso` content, which the real bpg provider imports
over SSH to the node (`pvesm path`, `qm disk import`, `qm set`: proxmoxtf/resource/vm/disk/disk.go).

The node is the nspawn test host (a real sshd in its own network namespace), reached by the provider's
own SSH client through an ssh-agent, at the address it reads from `GET /nodes/{node}/network`. Its
`pvesm` and `qm` are small stand-ins (tests/pve_sim/node_commands/) that do the import through the
simulator's API, which they reach through an SSH reverse tunnel (the simulator stays on 127.0.0.1).
What this proves: the provider's file_id path as it talks to a node (address, SSH, agent, sudo, the
commands and the output it parses, the disk it then resizes and reads back). What it does not: the
real `qm disk import` copying a real image."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from aimachine.rehearsal.guest import NspawnHost
from tests.conftest import run_aimachine
from tests.pve_sim.cli_env import SHIPPED_IMAGE, cli_env, write_catalog
from tests.pve_sim.fixture import TOKEN, healthy_state

pytestmark = pytest.mark.nspawn
NODE = "android-19"
COMMANDS = Path(__file__).resolve().parents[1] / "pve_sim" / "node_commands"
TUNNEL_PORT = 18006  # inside the test host: 127.0.0.1:18006 -> the simulator


@pytest.fixture
def ssh_agent(tmp_path: Path, nspawn_host: NspawnHost) -> Iterator[str]:
    """An ssh-agent holding the test host's key: the provider's SSH client uses the agent only."""
    sock = tmp_path / "agent.sock"
    out = subprocess.run(["ssh-agent", "-a", str(sock)], capture_output=True, text=True, check=True).stdout
    pid = int(out.split("SSH_AGENT_PID=", 1)[1].split(";", 1)[0])
    try:
        subprocess.run(["ssh-add", "-q", str(nspawn_host.key)], check=True, capture_output=True,
                       env={**os.environ, "SSH_AUTH_SOCK": str(sock)})
        yield str(sock)
    finally:
        os.kill(pid, signal.SIGTERM)


def _as_node(host: NspawnHost, sim_port: int, tmp_path: Path) -> subprocess.Popen:
    """Install the stand-in pvesm and qm on the test host and open the tunnel to the simulator."""
    conf = {"url": f"https://127.0.0.1:{TUNNEL_PORT}", "token": TOKEN, "node": NODE,
            "paths": "/run/aimachine-sim-paths.json"}
    for name in ("pvesm", "qm"):
        script = (COMMANDS / name).read_text()
        done = host.ssh(f"sudo tee /usr/sbin/{name} >/dev/null <<'EOF'\n{script}EOF\n"
                        f"sudo chmod 755 /usr/sbin/{name}")
        assert done.returncode == 0, done.stderr
    done = host.ssh(f"echo '{json.dumps(conf)}' | sudo tee /etc/aimachine-sim.json >/dev/null")
    assert done.returncode == 0, done.stderr
    tunnel = subprocess.Popen(
        ["ssh", "-N", "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", "-i", str(host.key),
         "-o", f"UserKnownHostsFile={host.known_hosts}", "-o", "StrictHostKeyChecking=accept-new",
         "-R", f"127.0.0.1:{TUNNEL_PORT}:127.0.0.1:{sim_port}", f"{host.user}@{host.address}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=(tmp_path / "tunnel.log").open("w"))
    for _ in range(50):
        probe = f"python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {TUNNEL_PORT}), 1)'"
        if host.ssh(probe).returncode == 0:
            return tunnel
        subprocess.run(["sleep", "0.2"], check=True)
    tunnel.kill()
    raise AssertionError(f"no tunnel to the simulator: {(tmp_path / 'tunnel.log').read_text()}")


def test_a_file_id_image_is_imported_over_ssh_to_the_node(pve_sim, tmp_path: Path,
                                                           nspawn_host: NspawnHost, ssh_agent: str) -> None:
    state = healthy_state()
    state["nodes"][NODE]["storage"]["local"]["path"] = str(tmp_path / "vz")
    state["nodes"][NODE]["address"] = nspawn_host.address  # what GET /nodes/{node}/network reports
    sim = pve_sim(state)
    tunnel = _as_node(nspawn_host, int(sim.url.rsplit(":", 1)[1]), tmp_path)
    try:
        catalog = write_catalog(tmp_path, image=SHIPPED_IMAGE)
        catalog.write_text(catalog.read_text().replace("ssh_user: root", f"ssh_user: {nspawn_host.user}"))
        home = tmp_path / "home"  # the provider trusts the node's key on first use into ~/.ssh/known_hosts
        (home / ".ssh").mkdir(parents=True)
        env = cli_env(sim, tmp_path, SSH_AUTH_SOCK=ssh_agent, HOME=str(home))
        provision = ("provision", "vm-llm-aimachine", "--catalog", str(catalog))
        first = run_aimachine(*provision, env=env, timeout=300)
        assert first.returncode == 0, first.stdout + first.stderr
        config = sim.vms()[140]["config"]
        assert config["virtio0"].startswith("local-zfs:vm-140-disk-1,")
        assert config["virtio0"].endswith("size=500G")
        assert "unused0" not in config, "qm set moved the imported disk to virtio0"
        imported = [c for c in sim.changes() if c["path"] == f"/nodes/{NODE}/storage/local-zfs/content"]
        assert [c["params"]["filename"] for c in imported] == ["vm-140-disk-1"]
        assert nspawn_host.address in (home / ".ssh/known_hosts").read_text()

        before = len(sim.changes())
        again = run_aimachine(*provision, env=env, timeout=300)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "matches the catalog: no changes" in again.stdout
        assert sim.changes()[before:] == []
    finally:
        tunnel.terminate()
        nspawn_host.ssh("sudo rm -f /usr/sbin/pvesm /usr/sbin/qm /etc/aimachine-sim.json")
