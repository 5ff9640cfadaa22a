"""HTTPS front of the simulator: /api2/json paths, the {"data": ...} envelope, PVEAPIToken auth,
parameters verified and permissions checked as the official schema of the simulated PVE version says,
Proxmox-shaped errors (message in the status line and in "message"), injected faults."""

from __future__ import annotations

import json
import ssl
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import trustme

from aimachine.pvesim import cluster_routes, node_routes, qemu_routes, routes, schema
from aimachine.pvesim.state import ApiError, World

PREFIX = "/api2/json"
ROUTE_MODULES = (cluster_routes, node_routes, qemu_routes)  # importing them registers their routes


def _params(raw: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, values in parse_qs(raw, keep_blank_values=True).items():
        out[key] = values[0] if len(values) == 1 else values
    return out


class Handler(BaseHTTPRequestHandler):
    world: World
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet: tests read stdout
        pass

    def _reply(self, status: int, body: dict, reason: str | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status, reason)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _token(self) -> str | None:
        header = self.headers.get("Authorization", "")
        if not header.startswith("PVEAPIToken="):
            return None
        return self.world.secrets.get(header.removeprefix("PVEAPIToken="))  # the token id, never the secret

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if not url.path.startswith(PREFIX):
            self._reply(501, {"data": None}, "Method not implemented")
            return
        raw_path = url.path[len(PREFIX):].rstrip("/") or "/"
        path = unquote(raw_path)
        params = _params(url.query)
        if body:
            is_json = self.headers.get("Content-Type", "").startswith("application/json")
            params.update(json.loads(body) if is_json else _params(body))
        token = self._token()
        if token is None:
            time.sleep(self.world.auth_delay_s)
            self._reply(401, {"data": None}, "Authentication failed!")
            return
        w = self.world
        with w.lock:
            if method != "GET":
                w.journal.append({"method": method, "path": path, "params": params})
            else:
                w.reads.append(path)
            w.checking = []
            try:
                data = self._dispatch(method, raw_path, path, params, token)
                self._reply(200, {"data": data})
            except ApiError as err:
                body_out: dict[str, Any] = {"data": None, "message": err.message + "\n"}
                if err.errors:
                    body_out["errors"] = err.errors
                self._reply(err.status, body_out, err.message.replace("\n", " "))
            finally:
                if w.checking:
                    w.checks.append({"method": method, "path": path, "checked": w.checking})
                w.checking = None
            w.save()

    def _dispatch(self, method: str, raw_path: str, path: str, params: dict, token: str) -> Any:
        fault = self.world.take_fault(method, path, self.headers.get("User-Agent", ""))
        if fault and "exitstatus" in fault:
            node = path.split("/")[2] if path.startswith("/nodes/") else "localhost"
            return self.world.task(node, "fault", 0, fault["exitstatus"])
        if fault:
            raise ApiError(int(fault.get("status", 500)), fault.get("message", "injected fault"))
        found = routes.find(method, raw_path)
        if found is None:
            raise ApiError(501, f"Method '{method} {path}' not implemented")
        entry, raw_fields = found
        fields = {k: unquote(v) for k, v in raw_fields.items()}
        spec = schema.spec(self.world.version, entry.method, entry.path)
        errors = schema.verify(spec, params, fields)
        if errors:
            raise ApiError(400, "Parameter verification failed.", errors)
        check = schema.check_of(spec)
        if check is not None:
            failed = schema.failed_check(check, {**params, **fields},
                                         lambda path, privs: self.world.may(token, path, *privs))
            if failed is not None:
                raise ApiError(403, failed)
        for need in entry.extra(fields, params) if entry.extra else []:
            acl_path, privs = need[0], need[1]
            if not self.world.may(token, acl_path, *privs):  # checked before the handler changes anything
                raise ApiError(403, need[2] if len(need) > 2 else
                               f"Permission check failed ({acl_path}, {'|'.join(privs)})")
        return entry.handler(self.world, fields, params, token)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up mid-answer (a Terraform stopped by Ctrl-C or SIGTERM) is no error of the
        server's; anything else is printed as socketserver does."""
        if isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            return
        super().handle_error(request, client_address)


def serve(state_path: Path, port: int) -> ThreadingHTTPServer:
    """Bind 127.0.0.1:port (0: any free port) with a fresh self-signed certificate."""
    world = World(state_path)
    handler = type("BoundHandler", (Handler,), {"world": world})
    server = _Server(("127.0.0.1", port), handler)
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:
        chain, key = Path(tmp, "chain.pem"), Path(tmp, "key.pem")
        chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
        key.write_bytes(cert.private_key_pem.bytes())
        ctx.load_cert_chain(chain, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    return server
