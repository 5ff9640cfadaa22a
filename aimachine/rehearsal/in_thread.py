"""A socket server run in a thread of this process for the length of a `with` block."""

from __future__ import annotations

import contextlib
import socketserver
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def in_thread(server: socketserver.BaseServer, name: str) -> Iterator[int]:
    """Serve SERVER in a daemon thread; yields its port; shuts it down and closes it on exit."""
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
