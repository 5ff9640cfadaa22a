"""A real SSH server on 127.0.0.1 (paramiko's, as pyinfra's own client speaks to) that refuses every key:
what a VM whose authorized_keys lacks the admin's key answers."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import paramiko


class _RefuseAll(paramiko.ServerInterface):
    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return paramiko.AUTH_FAILED

    def check_auth_none(self, username: str) -> int:
        return paramiko.AUTH_FAILED


@contextlib.contextmanager
def refusing_ssh_server() -> Iterator[int]:
    """Serve until the block ends; yields the port."""
    host_key = paramiko.ECDSAKey.generate()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        transports = []
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            transport = paramiko.Transport(conn)
            transport.add_server_key(host_key)
            with contextlib.suppress(Exception):
                transport.start_server(server=_RefuseAll())
            transports.append(transport)
        for transport in transports:
            transport.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
