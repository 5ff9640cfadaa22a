"""OpenSSH as a subprocess: commands on a VM or node, and local port tunnels.

One place builds the ssh command line, so every caller gets the same batch-mode, key-only,
time-bounded behaviour, and no secret ever lands on a command line.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SshTarget:
    host: str
    user: str
    port: int = 22
    key_file: str | None = None
    known_hosts_file: str | None = None  # None: accept new keys, remember them in ~/.ssh/known_hosts
    options: tuple[str, ...] = field(default=())

    def base_command(self, connect_timeout: int = 10, batch: bool = True) -> list[str]:
        """ssh with its options; batch=False for an interactive shell (may ask for a passphrase)."""
        cmd = ["ssh", "-o", f"BatchMode={'yes' if batch else 'no'}",
               "-o", f"ConnectTimeout={connect_timeout}", "-o", "StrictHostKeyChecking=accept-new",
               "-o", "LogLevel=ERROR", "-o", "ServerAliveInterval=15", "-p", str(self.port)]
        if self.key_file:
            cmd += ["-i", os.path.expanduser(self.key_file), "-o", "IdentitiesOnly=yes"]
        if self.known_hosts_file:
            cmd += ["-o", f"UserKnownHostsFile={self.known_hosts_file}"]
        for opt in self.options:
            cmd += ["-o", opt]
        return cmd

    @property
    def login(self) -> str:
        return f"{self.user}@{self.host}"


def run(target: SshTarget, command: str, timeout: float = 120, input_text: str | None = None,
        connect_timeout: int = 10) -> subprocess.CompletedProcess:
    """Run `command` on the target; never raises for a non-zero exit (the caller judges)."""
    argv = [*target.base_command(connect_timeout), target.login, command]
    try:
        return subprocess.run(argv, input=input_text, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return subprocess.CompletedProcess(argv, 124, out, f"timed out after {timeout:.0f} s")


def forget_host_key(target: SshTarget) -> None:
    """Drop the remembered key of a rebuilt host, so `accept-new` learns its new one."""
    if target.known_hosts_file and os.path.exists(target.known_hosts_file):
        host = target.host if target.port == 22 else f"[{target.host}]:{target.port}"
        subprocess.run(["ssh-keygen", "-R", host, "-f", target.known_hosts_file],
                       capture_output=True, check=False)


def wait_for_ssh(target: SshTarget, deadline_s: float, interval_s: float = 3.0) -> tuple[bool, str]:
    """Poll until `true` runs over SSH or the deadline passes; returns (ok, last error)."""
    end = time.monotonic() + deadline_s
    last = ""
    while True:
        result = run(target, "true", timeout=15, connect_timeout=5)
        if result.returncode == 0:
            return True, ""
        last = (result.stderr or result.stdout).strip()
        if time.monotonic() + interval_s > end:
            return False, last
        time.sleep(interval_s)


def free_local_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def tunnel(target: SshTarget, remote: str, remote_port: int, local_port: int | None = None,
           ready_timeout_s: float = 15) -> Iterator[int]:
    """Forward 127.0.0.1:LOCAL to REMOTE:REMOTE_PORT as seen from the target; yields LOCAL."""
    port = local_port or free_local_port()
    argv = [*target.base_command(), "-N", "-o", "ExitOnForwardFailure=yes",
            "-L", f"127.0.0.1:{port}:{remote}:{remote_port}", target.login]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + ready_timeout_s
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise ConnectionError(f"ssh tunnel to {target.login} failed: "
                                      f"{(proc.stderr.read() if proc.stderr else '').strip()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            time.sleep(0.2)
        else:
            raise ConnectionError(f"ssh tunnel to {target.login} not ready in {ready_timeout_s:.0f} s")
        yield port
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        if proc.poll() is None:
            proc.kill()
