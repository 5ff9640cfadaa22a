#!/usr/bin/env python3
"""A stand-in for `ssh` on PATH: `-N -L 127.0.0.1:P:HOST:PORT` forwards P to the stand-in server
(FAKE_SSH_PORTS maps the VM's service port to it, e.g. 8000=41234); a command prints the fixture
the real VM would (nvidia-smi, the safetensors listing). Nothing leaves 127.0.0.1."""

import contextlib
import os
import socket
import sys
import threading
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def relay(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


def forward(spec: str) -> None:
    _, local, _, remote = spec.split(":")
    ports = dict(pair.split("=") for pair in os.environ["FAKE_SSH_PORTS"].split(","))
    server = socket.create_server(("127.0.0.1", int(local)))
    while True:
        client, _ = server.accept()
        upstream = socket.create_connection(("127.0.0.1", int(ports[remote])))
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=relay, args=(a, b), daemon=True).start()


args = sys.argv[1:]
if "-N" in args:
    forward(args[args.index("-L") + 1])
elif "nvidia-smi" in args[-1]:
    print((FIXTURES / "nvidia-smi.query-name-driver.noheader.csv").read_text(), end="")
elif "safetensors" in args[-1]:
    print((FIXTURES / "hf-cache.safetensors-listing.txt").read_text(), end="")
else:
    sys.exit(f"fake ssh: unexpected command {args[-1]!r}")
