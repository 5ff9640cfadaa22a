"""The test network guard refuses the catalog's real endpoint, in-process and in subprocesses."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.conftest import netguard


def test_private_address_is_refused_in_process():
    with socket.socket() as sock, pytest.raises(netguard.NetworkGuardError):
        sock.connect(("192.168.0.19", 8006))


def test_loopback_is_allowed():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.socket() as client:
            client.connect(server.getsockname())


def test_private_address_is_refused_in_a_python_subprocess():
    code = "import socket; socket.create_connection(('192.168.0.19', 8006), timeout=1)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode != 0
    assert "test network guard" in result.stderr
