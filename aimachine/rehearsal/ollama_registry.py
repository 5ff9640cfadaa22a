"""A model registry for the tests and the rehearsal that speaks Ollama's registry protocol as the Ollama
0.32.15 server uses it when it pulls (`ollama pull NAME`), every request logged. Standard library only:
it runs inside the test host too (`python3 ollama_registry.py ROOT --port P`).

Shaped after the 0.32.15 source: server/images.go (PullModel, pullModelManifest, makeRequestWithRetry,
makeRequest, verifyBlob), server/download.go (downloadBlob, blobDownload.Prepare / run / downloadChunk),
server/auth.go (getAuthorizationToken), types/model/name.go (ParseName, Name.BaseURL,
DisplayNamespaceModel), types/model/config.go (ConfigV2), manifest/manifest.go (Manifest, WriteManifest)
and manifest/layer.go, server/create.go (createConfigLayer). What the client sends, in order:
  GET  /v2/{namespace}/{model}/manifests/{tag}   Accept: application/vnd.docker.distribution.manifest.v2
                                            +json, User-Agent: ollama/0.32.15 (amd64 linux) Go/...;
                                            200 with the manifest (stored byte for byte as received);
                                            404 -> "pull model manifest: file does not exist"; 401 with
                                            WWW-Authenticate: Bearer realm=,service=,scope= -> one token
                                            request to the realm (same host only, signed with the
                                            server's ed25519 key) and one retry: never asked here
  then for each layer, the config last, unless its blob is already in the store:
  HEAD /v2/{namespace}/{model}/blobs/sha256:{hex}   redirects followed; the size is Content-Length
  GET  /v2/{namespace}/{model}/blobs/sha256:{hex}   redirects to the same host name followed, the first
                                            to another host name not; the answer must be 307 or 200 and
                                            carry a Location (resp.Location()): the URL every part is
                                            fetched from; its body is never read. Here: 307 to the blob
                                            under the other name of this server (as registry.ollama.ai
                                            sends the client to its CDN), or, where this server has no
                                            other name, 200 with the Location and no body
  GET  {Location} with Range: bytes=START-END   parts of 100 MB to 1000 MB (16 at most), a plain client
                                            (no User-Agent of its own, no Authorization), the status not
                                            checked: exactly END-START+1 bytes are read (206 here)
The client then checks each new blob's sha256 against its digest (a mismatch removes the blob and fails
the pull: "digest mismatch, file must be downloaded again") and writes the manifest under
manifests/{host}/{namespace}/{model}/{tag}. The host and scheme come from the model's name
(ParseName: `HOST/NAMESPACE/MODEL:TAG`, https unless `ollama pull --insecure`, which makes every
request plain http).

Models are laid out under ROOT as Ollama's own store lays them out, without the host:
ROOT/manifests/{namespace}/{model}/{tag} (the manifest JSON) and ROOT/blobs/sha256-{hex};
`publish` writes one there.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import re
import threading
import time
import urllib.parse
from pathlib import Path

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG = "application/vnd.docker.container.image.v1+json"
MODEL = "application/vnd.ollama.image.model"
TEMPLATE = "application/vnd.ollama.image.template"
PARAMS = "application/vnd.ollama.image.params"
SYSTEM = "application/vnd.ollama.image.system"
SEND = 64 * 1024
_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}")  # types/model/name.go isValidPart (model, tag)
_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")


def human_number(count: int) -> str:
    """format.HumanNumber: the parameter size Ollama's config shows (`8.0B`, `7.24M`, `112K`)."""
    for unit, size, decimals in (("B", 10**9, 1), ("M", 10**6, 2)):
        if count >= size:
            number = count / size
            return f"{number:.0f}{unit}" if number == int(number) else f"{number:.{decimals}f}{unit}"
    return f"{count / 1000:.0f}K" if count >= 1000 else str(count)


def split_name(name: str) -> tuple[str, str, str]:
    """`tiny`, `library/tiny:latest`, `team/tiny:q8` -> (namespace, model, tag), Ollama's defaults filled
    in (namespace library, tag latest); a host in front is left out (it is this server)."""
    tag = "latest"
    if name.rfind(":") > name.rfind("/"):
        name, tag = name.rsplit(":", 1)
    parts = name.split("/")
    namespace, model = ("library", parts[-1]) if len(parts) == 1 else (parts[-2], parts[-1])
    if "." in namespace or not all(_PART.fullmatch(part) for part in (namespace, model, tag)):
        raise ValueError(f"not a valid model name: {name!r} (types/model/name.go isValidPart)")
    return namespace, model, tag


def blob_path(root: Path, digest: str) -> Path:
    return Path(root) / "blobs" / digest.replace(":", "-")


def _blob(root: Path, data: bytes, media_type: str) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = blob_path(root, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def publish(root: Path, name: str, gguf_bytes: bytes, *, family: str = "llama", file_type: str = "F16",
            parameters: int | None = None, template: str | None = None, params: dict | None = None,
            system: str | None = None) -> dict:
    """Publish a GGUF model as NAME under ROOT: the model layer, the optional template, system and params
    layers, the config blob (Ollama's ConfigV2, as createConfigLayer writes it: model_format gguf,
    model_family, file_type, model_type = the parameter size) and the manifest (schemaVersion 2,
    written as manifest.WriteManifest's json.Encoder does: compact, one newline). Returns the manifest."""
    root = Path(root)
    namespace, model, tag = split_name(name)
    layers = [_blob(root, gguf_bytes, MODEL)]
    if template is not None:
        layers.append(_blob(root, template.encode(), TEMPLATE))
    if system is not None:
        layers.append(_blob(root, system.encode(), SYSTEM))
    if params is not None:
        layers.append(_blob(root, _go_json(params), PARAMS))
    config = {"model_format": "gguf", "model_family": family, "model_families": [family],
              "model_type": human_number(parameters) if parameters else "", "file_type": file_type,
              "architecture": "amd64", "os": "linux"}
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST_V2, "config": _blob(root, _go_json(config), CONFIG),
                "layers": layers}
    path = root / "manifests" / namespace / model / tag
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_go_json(manifest))
    return manifest


def _go_json(data: object) -> bytes:
    """JSON as Go's json.Encoder writes it: no spaces, a trailing newline."""
    return json.dumps(data, separators=(",", ":")).encode() + b"\n"


class Registry:
    def __init__(self, root: Path, log: Path | None = None, blob_host: str | None = None,
                 rate: float | None = None):
        self.root, self.log, self.blob_host, self.rate = Path(root), log, blob_host, rate
        self.requests: list[dict] = []  # every request, in order (the tests read the protocol here)
        self.lock = threading.Lock()

    def record(self, **fields: object) -> None:
        entry = {"t": time.time(), **fields}
        with self.lock:
            self.requests.append(entry)
            if self.log is not None:
                with open(self.log, "a") as out:
                    out.write(json.dumps(entry) + "\n")

    def manifest(self, namespace: str, model: str, tag: str) -> Path | None:
        path = self.root / "manifests" / namespace / model / tag
        return path if path.is_file() else None

    def blob(self, digest: str) -> Path | None:
        path = blob_path(self.root, digest)
        return path if _DIGEST.fullmatch(digest) and path.is_file() else None


_V2 = re.compile(r"^/v2/(?P<namespace>[^/]+)/(?P<model>[^/]+)/(?P<kind>manifests|blobs)/(?P<ref>[^/]+)$")
_LOOPBACK_NAMES = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}
_DIRECT = re.compile(r"^/direct/(?P<digest>sha256:[0-9a-f]{64})$")


def handler(registry: Registry) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self.answer(body=False)

        def do_GET(self) -> None:
            self.answer(body=True)

        def answer(self, body: bool) -> None:
            path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
            try:
                if path in ("/v2", "/v2/"):
                    return self.json(200, {}, body)
                if found := _DIRECT.match(path):
                    return self.direct(found["digest"], body)
                found = _V2.match(path)
                if not found or ".." in path:
                    return self.error(404, "NAME_UNKNOWN", "repository name not known to registry")
                if found["kind"] == "manifests":
                    return self.send_manifest(found["namespace"], found["model"], found["ref"], body)
                return self.send_blob(found["ref"], body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def send_manifest(self, namespace: str, model: str, tag: str, body: bool) -> None:
            path = registry.manifest(namespace, model, tag)
            if path is None:
                return self.error(404, "MANIFEST_UNKNOWN", "manifest unknown")
            data = path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", MANIFEST_V2)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Docker-Content-Digest", "sha256:" + hashlib.sha256(data).hexdigest())
            self.end_headers()
            if body:
                self.wfile.write(data)
            self.note(200, len(data) if body else 0)

        def send_blob(self, digest: str, body: bool) -> None:
            """HEAD: the size. GET: where the bytes are (the client reads the Location, not the body)."""
            path = registry.blob(digest)
            if path is None:
                return self.error(404, "BLOB_UNKNOWN", "blob unknown to registry")
            headers = {"Docker-Content-Digest": digest}
            if not body:
                self.send_response(200)
                for key, value in {**headers, "Content-Length": str(path.stat().st_size),
                                   "Content-Type": "application/octet-stream",
                                   "Accept-Ranges": "bytes"}.items():
                    self.send_header(key, value)
                self.end_headers()
                return self.note(200, 0)
            asked = urllib.parse.urlsplit("//" + (self.headers.get("Host") or "127.0.0.1"))
            other = registry.blob_host or _LOOPBACK_NAMES.get(asked.hostname or "", asked.hostname)
            status = 307 if other != asked.hostname else 200
            port = asked.port or self.server.server_address[1]
            where = f"{other}:{port}" if status == 307 else asked.netloc
            target = f"http://{where}/direct/{digest}"
            self.send_response(status)
            for key, value in {**headers, "Location": target, "Content-Length": "0"}.items():
                self.send_header(key, value)
            self.end_headers()
            self.note(status, 0, location=target)

        def direct(self, digest: str, body: bool) -> None:
            """The blob's bytes, a Range (bytes=START-END or bytes=START-) answered 206."""
            path = registry.blob(digest)
            if path is None:
                return self.error(404, "BLOB_UNKNOWN", "blob unknown to registry")
            size = path.stat().st_size
            start, end = 0, size - 1
            asked = self.headers.get("Range")
            if asked:
                found = re.fullmatch(r"bytes=(\d+)-(\d*)", asked.strip())
                if not found or int(found[1]) >= size:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return self.note(416, 0)
                start, end = int(found[1]), min(int(found[2] or size - 1), size - 1)
            status = 206 if asked else 200
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - start + 1))
            if asked:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            sent = 0
            try:
                if body:
                    with open(path, "rb") as data:
                        data.seek(start)
                        while sent < end - start + 1:
                            chunk = data.read(min(SEND, end - start + 1 - sent))
                            if not chunk:
                                break
                            if registry.rate:
                                time.sleep(len(chunk) / registry.rate)
                            self.wfile.write(chunk)
                            sent += len(chunk)
            finally:
                self.note(status, sent)

        def note(self, status: int, sent: int, **more: object) -> None:
            registry.record(method=self.command, path=self.path, status=status, sent=sent,
                            host=self.headers.get("Host"), accept=self.headers.get("Accept"),
                            range=self.headers.get("Range"), user_agent=self.headers.get("User-Agent"),
                            authorization=bool(self.headers.get("Authorization")), **more)

        def json(self, code: int, data: object, body: bool) -> None:
            payload = json.dumps(data).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            self.end_headers()
            if body:
                self.wfile.write(payload)
            self.note(code, len(payload) if body else 0)

        def error(self, code: int, kind: str, message: str) -> None:
            """The distribution spec's error body (the client shows a 4xx body but a 404's)."""
            self.json(code, {"errors": [{"code": kind, "message": message}]}, self.command != "HEAD")

    return Handler


def serve(registry: Registry, host: str = "127.0.0.1", port: int = 0) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer((host, port), handler(registry))
    server.daemon_threads = True
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--blob-host",
                        help="the other name of this server the blob downloads are sent to (a 307, as to "
                             "a CDN); default: the other loopback name, or no redirect where it has none")
    parser.add_argument("--rate", type=float, help="bytes per second per download")
    parser.add_argument("--log", type=Path)
    args = parser.parse_args()
    registry = Registry(args.root, args.log, args.blob_host, args.rate)
    server = serve(registry, args.host, args.port)
    print(f"serving {args.root} on http://{args.host}:{server.server_address[1]} (pid {os.getpid()})",
          flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
