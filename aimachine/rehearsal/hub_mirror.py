"""A local mirror for the rehearsal and the tests: model repositories by the Hugging Face Hub's protocol
(what HF_ENDPOINT points at) and plain files (a package index, release archives), each class of
traffic throttled to its own rate, every request logged. Standard library only: it runs inside the
test host too (`python3 hub_mirror.py ROOT --port P`).

The Hub's side is shaped after huggingface_hub 2.4's client (hf_api.repo_info / list_repo_tree,
file_download.get_hf_file_metadata / http_get) and the Hub's documented answers:
  GET  /api/models/{repo}/revision/{rev}   {"id", "sha", "siblings": [{"rfilename"}]}; 404 with
                                            X-Error-Code: RevisionNotFound / RepositoryNotFound
  GET  /api/models/{repo}/tree/{rev}?recursive=true   [{"type": "file", "oid", "size", "path",
                                            "lfs": {"oid", "size", "pointerSize"}}], paged by a
                                            Link: <...>; rel="next" header
  HEAD|GET /{repo}/resolve/{rev}/{path}    a small file: 200 with ETag "<git blob id>", X-Repo-Commit;
                                            an LFS file: 302 to its blob on another host name
                                            (as to the Hub's CDN) with X-Linked-Etag "<sha256>",
                                            X-Linked-Size, X-Repo-Commit
  GET  /lfs/{sha256}                        the blob; Range: bytes=N- answers 206
Repositories are directories ROOT/hub/{org}/{name}; files named *.safetensors, *.bin, *.gguf are LFS
(as the Hub's default .gitattributes makes them). Everything else under ROOT is served as files,
`index.html` for a directory.
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import mimetypes
import os
import re
import threading
import time
import urllib.parse
from pathlib import Path

LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")
SEND = 64 * 1024


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        while chunk := data.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class Repo:
    """One model repository: its files, their ids, and a commit id derived from them."""

    def __init__(self, name: str, directory: Path):
        self.name, self.directory = name, directory
        self.entries: list[dict] = []
        self.blobs: dict[str, Path] = {}
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            rel = path.relative_to(directory).as_posix()
            size = path.stat().st_size
            entry = {"type": "file", "size": size, "path": rel}
            if rel.endswith(LFS_SUFFIXES):
                sha = file_sha256(path)
                pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {size}\n"
                entry.update(oid=git_blob_id(pointer.encode()), size=len(pointer),
                             lfs={"oid": sha, "size": size, "pointerSize": len(pointer)})
                self.blobs[sha] = path
            else:
                entry["oid"] = git_blob_id(path.read_bytes())
            self.entries.append(entry)
        self.commit = hashlib.sha1(json.dumps(self.entries, sort_keys=True).encode()).hexdigest()

    def knows(self, revision: str) -> bool:
        return revision in ("main", self.commit)

    def entry(self, path: str) -> dict | None:
        return next((e for e in self.entries if e["path"] == path), None)


class Throttle:
    """A shared byte budget per second for one class of traffic (None: unlimited)."""

    def __init__(self, rate: float | None):
        self.rate, self.lock, self.next = rate, threading.Lock(), time.monotonic()

    def take(self, count: int) -> None:
        """Wait until COUNT more bytes fit: each chunk gets its slot after every chunk before it."""
        if not self.rate:
            return
        with self.lock:
            now = time.monotonic()
            self.next = max(self.next, now) + count / self.rate
            wait = self.next - now
        time.sleep(wait)


class Mirror:
    def __init__(self, root: Path, rates: dict[str, float], log: Path | None, page_size: int = 1000):
        self.root, self.log, self.page_size = root, log, page_size
        self.throttles = {name: Throttle(rates.get(name)) for name in ("hub", "files")}
        self.repos: dict[str, Repo] = {}
        hub = root / "hub"
        if hub.is_dir():
            for org in sorted(p for p in hub.iterdir() if p.is_dir()):
                for repo in sorted(p for p in org.iterdir() if p.is_dir()):
                    self.repos[f"{org.name}/{repo.name}"] = Repo(f"{org.name}/{repo.name}", repo)
        self.log_lock = threading.Lock()

    def record(self, **fields: object) -> None:
        if self.log is None:
            return
        with self.log_lock, open(self.log, "a") as out:
            out.write(json.dumps({"t": time.time(), **fields}) + "\n")

    def blob(self, sha: str) -> Path | None:
        return next((r.blobs[sha] for r in self.repos.values() if sha in r.blobs), None)


def handler(mirror: Mirror) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self.answer(body=False)

        def do_GET(self) -> None:
            self.answer(body=True)

        def answer(self, body: bool) -> None:
            url = urllib.parse.urlsplit(self.path)
            path = urllib.parse.unquote(url.path)
            try:
                if path.startswith("/api/models/"):
                    self.api(path.removeprefix("/api/models/"), urllib.parse.parse_qs(url.query), body)
                elif path.startswith("/lfs/"):
                    blob = mirror.blob(path.removeprefix("/lfs/"))
                    self.file(blob, "hub", body) if blob else self.error(404, "EntryNotFound")
                elif "/resolve/" in path:
                    self.resolve(path, body)
                else:
                    self.static(path, body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def repo_and_rest(self, text: str, marker: str) -> tuple[Repo | None, str, str]:
            for name, repo in mirror.repos.items():
                if text.startswith(name + marker):
                    rev, _, rest = text.removeprefix(name + marker).partition("/")
                    return repo, rev, rest
            return None, "", ""

        def api(self, rest: str, query: dict, body: bool) -> None:
            for marker in ("/revision/", "/tree/"):
                repo, rev, _ = self.repo_and_rest(rest, marker)
                if repo is None:
                    continue
                if not repo.knows(rev):
                    return self.error(404, "RevisionNotFound")
                if marker == "/revision/":
                    info = {"id": repo.name, "modelId": repo.name, "sha": repo.commit,
                            "siblings": [{"rfilename": e["path"]} for e in repo.entries]}
                    return self.json(info, body)
                start = int(query.get("cursor", ["0"])[0])
                page = repo.entries[start:start + mirror.page_size]
                link = None
                if start + mirror.page_size < len(repo.entries):
                    link = f'<{self.base()}{self.path.split("?")[0]}?recursive=true&cursor=' \
                           f'{start + mirror.page_size}>; rel="next"'
                return self.json(page, body, {"Link": link} if link else {})
            self.error(404, "RepositoryNotFound")

        def resolve(self, path: str, body: bool) -> None:
            repo, rev, rest = self.repo_and_rest(path.lstrip("/"), "/resolve/")
            if repo is None:
                return self.error(404, "RepositoryNotFound")
            if not repo.knows(rev):
                return self.error(404, "RevisionNotFound")
            entry = repo.entry(rest)
            if entry is None:
                return self.error(404, "EntryNotFound")
            headers = {"X-Repo-Commit": repo.commit}
            if "lfs" in entry:
                lfs = entry["lfs"]
                self.send_response(302)
                for key, value in {**headers, "Location": f"{self.cdn()}/lfs/{lfs['oid']}",
                                   "X-Linked-Etag": f'"{lfs["oid"]}"', "X-Linked-Size": str(lfs["size"]),
                                   "ETag": f'"{entry["oid"]}"', "Content-Length": "0"}.items():
                    self.send_header(key, value)
                self.end_headers()
                mirror.record(path=path, cls="hub", status=302, sent=0)
                return
            self.file(repo.directory / rest, "hub", body, {**headers, "ETag": f'"{entry["oid"]}"'})

        def static(self, path: str, body: bool) -> None:
            target = (mirror.root / path.lstrip("/")).resolve()
            if mirror.root.resolve() not in target.parents and target != mirror.root.resolve():
                return self.error(404, "EntryNotFound")
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                return self.error(404, "EntryNotFound")
            kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
            self.file(target, "files", body, {"Content-Type": kind})  # pip reads a page by its type

        def base(self) -> str:
            return f"http://{self.headers.get('Host') or '127.0.0.1'}"

        def cdn(self) -> str:
            """The same server under its other name: to the client, a host other than the Hub, as the
            Hub's CDN is (huggingface_hub then reads the metadata from the redirect itself)."""
            port = self.server.server_address[1]
            named = (self.headers.get("Host") or "").split(":")[0]
            return f"http://{'localhost' if named != 'localhost' else '127.0.0.1'}:{port}"

        def file(self, path: Path, cls: str, body: bool, headers: dict[str, str] | None = None) -> None:
            size = path.stat().st_size
            start = 0
            found = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if found and int(found.group(1)) < size:
                start = int(found.group(1))
            self.send_response(206 if start else 200)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(size - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            self.end_headers()
            sent = 0
            try:
                if body:
                    with open(path, "rb") as data:
                        data.seek(start)
                        while chunk := data.read(SEND):
                            mirror.throttles[cls].take(len(chunk))
                            self.wfile.write(chunk)
                            sent += len(chunk)
            finally:
                mirror.record(path=self.path, cls=cls, status=206 if start else 200, start=start, sent=sent,
                              size=size)

        def json(self, data: object, body: bool, headers: dict[str, str] | None = None) -> None:
            payload = json.dumps(data).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if body:
                self.wfile.write(payload)

        def error(self, code: int, kind: str) -> None:
            payload = json.dumps({"error": kind}).encode()
            self.send_response(code)
            self.send_header("X-Error-Code", kind)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

    return Handler


def serve(mirror: Mirror, host: str = "127.0.0.1", port: int = 0) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer((host, port), handler(mirror))
    server.daemon_threads = True
    return server


def parse_rates(text: str) -> dict[str, float]:
    """`hub=2000000,files=500000` (bytes per second per class)."""
    rates = {}
    for part in filter(None, text.split(",")):
        name, _, value = part.partition("=")
        rates[name.strip()] = float(value)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--rates", default="", help="hub=BYTES_PER_S,files=BYTES_PER_S")
    parser.add_argument("--log", type=Path)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()
    mirror = Mirror(args.root, parse_rates(args.rates), args.log, args.page_size)
    server = serve(mirror, args.host, args.port)
    print(f"serving {args.root} on http://{args.host}:{server.server_address[1]} (pid {os.getpid()})",
          flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
