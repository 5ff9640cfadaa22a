"""What keeps a run on a converged VM short: each command sent at once, each fact read once.

pyinfra sends every fact's command over its own SSH channel; on a converged VM those reads are the whole
run. Two things made them slow: Nagle's algorithm on paramiko's socket (each small exec request waited
for the VM's delayed ACK, ~40 ms a command), and the same fact read again by every operation that needs
it (the package list, the user and group tables, the OS name: 20 of 47 reads of a no-op run).
Together they took a no-op run of five steps on the test host from 5.3 s to under 3 s.
"""

from __future__ import annotations

import socket
from collections.abc import Hashable

from pyinfra import host
from pyinfra.api import BaseStateCallback


def no_delay() -> None:
    """TCP_NODELAY on the connection to the VM (a no-op for connectors without a socket, e.g. @fake)."""
    client = getattr(host.connector, "client", None)
    transport = client.get_transport() if client is not None else None
    if transport is not None and isinstance(getattr(transport, "sock", None), socket.socket):
        transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _ForgetAfterAChange(BaseStateCallback):
    """Facts read again once an operation has changed the VM (pyinfra reads an operation's facts when it
    runs, after the operations before it)."""

    def __init__(self, seen: dict) -> None:
        self.seen, self.previous = seen, None

    def operation_host_start(self, state, host, op_hash) -> None:
        previous, self.previous = self.previous, op_hash
        if previous is not None and state.ops[host][previous].operation_meta.did_change():
            self.seen.clear()


def one_read_per_fact() -> None:
    """Read each fact (class and arguments) once until an operation changes something: while the
    operations are planned, and between operations that change nothing. On a converged VM that is
    every fact once; after a change they are read again, so an operation never sees the VM as it was
    before the one ahead of it. What runs inside operations (an `_if`, the waits, the reboot) asks the
    VM itself, not a fact."""
    real = host._get_module()  # the Host behind pyinfra's context proxy
    if getattr(real, "_aimachine_facts", None) is not None:
        return
    read = real.get_fact
    seen: dict[Hashable, object] = {}

    def get_fact(fact, *args, **kwargs):
        try:
            key = (fact, args, tuple(sorted(kwargs.items())))
            hash(key)
        except TypeError:  # an argument that cannot be a key: read it every time
            return read(fact, *args, **kwargs)
        if key not in seen:
            seen[key] = read(fact, *args, **kwargs)
        return seen[key]

    real._aimachine_facts = seen
    real.get_fact = get_fact
    real.state.add_callback_handler(_ForgetAfterAChange(seen))
