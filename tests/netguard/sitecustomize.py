"""Test-only network guard: a connection to anything but loopback (or a test host the tests
registered in AIMACHINE_TEST_HOSTS) raises instead of leaving the machine.

Loaded into pytest by tests/conftest.py and into every Python subprocess the tests start
(PYTHONPATH points here), so no test can reach the catalog's real 192.168.x endpoint.
"""

import ipaddress
import os
import socket

_REAL_CONNECT = socket.socket.connect
_REAL_CONNECT_EX = socket.socket.connect_ex


class NetworkGuardError(ConnectionRefusedError):
    pass


def _allowed(host) -> bool:
    extra = {h for h in os.environ.get("AIMACHINE_TEST_HOSTS", "").split(",") if h}
    if host in extra or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return False
        return all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def _check(sock, address) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _allowed(address[0]):
        raise NetworkGuardError(f"test network guard: connection to {address[0]}:{address[1]} refused "
                                "(tests may reach only 127.0.0.1 and their own test hosts)")


def _connect(self, address):
    _check(self, address)
    return _REAL_CONNECT(self, address)


def _connect_ex(self, address):
    _check(self, address)
    return _REAL_CONNECT_EX(self, address)


socket.socket.connect = _connect
socket.socket.connect_ex = _connect_ex
