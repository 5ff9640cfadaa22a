"""A local cache of Ubuntu's package archive for the test host and the rehearsal's guest.

It is an HTTP proxy that only knows Ubuntu's archive hosts. The guest's apt uses it as its
`Acquire::http::Proxy`, and debootstrap uses it through `http_proxy`. Both still name the real archive
(http://archive.ubuntu.com/ubuntu, http://security.ubuntu.com/ubuntu) and check what they get with
Ubuntu's archive keyring. The proxy adds no trust: it stores files and hands them back.

Two modes:
- `fill` (an install step: `make test-host`): a file not in the cache is fetched once from the archive
  and kept; a file in the cache is never fetched again, so a second fill downloads nothing. The cache
  is one snapshot of the archive: the InRelease kept in it lists the indices kept with it (apt fetches
  them by hash), and pool files never change.
- `offline` (the tests): nothing is fetched; a file not in the cache gets 404 and is recorded in
  `misses`, so a test can name it and the remedy (`make test-host`). A file the archive itself did not
  have when the cache was filled (listed in its index, 404 on both hosts: a package not yet published)
  is kept in UNPUBLISHED and answered 404 again, as the archive did, without counting as a miss.

The cache lives in ~/.cache/aimachine/ubuntu-archive (AIMACHINE_ARCHIVE_CACHE), outside the checkout.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from aimachine.rehearsal.in_thread import in_thread

CACHE_ENV = "AIMACHINE_ARCHIVE_CACHE"
MODE_ENV = "AIMACHINE_ARCHIVE_MODE"  # fill | offline
ARCHIVE = "http://archive.ubuntu.com/ubuntu"
SECURITY = "http://security.ubuntu.com/ubuntu"
UPSTREAMS = frozenset({"archive.ubuntu.com", "security.ubuntu.com"})
PORT = 3142  # apt-cacher-ng's port: what an admin's apt proxy usually listens on
IP_FREEBIND = 15  # linux/in.h: bind to an address the host does not have yet (the guest's veth)
UNPUBLISHED = ".unpublished"  # in the cache root: one URL path per line
REFILL = "make test-host (fills ~/.cache/aimachine/ubuntu-archive from Ubuntu's archive)"


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache/aimachine/ubuntu-archive"))


def default_mode() -> str:
    return os.environ.get(MODE_ENV, "offline")


def cache_path(root: Path, url: str) -> Path | None:
    """Where URL lives in the cache, or None when it is not a file of Ubuntu's archive."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname not in UPSTREAMS or parts.query:
        return None
    segments = [s for s in parts.path.split("/") if s]
    if not segments or segments[0] != "ubuntu" or any(s in (".", "..") for s in segments):
        return None
    return root.joinpath(*segments)  # one tree: both hosts serve the same archive (pool and dists)


class ArchiveCache:
    """The cache's files and its mode; `misses` and `fetched` say what a run asked for beyond it."""

    def __init__(self, root: Path | None = None, mode: str | None = None):
        self.root = root or cache_root()
        self.mode = mode or default_mode()
        if self.mode not in ("fill", "offline"):
            raise ValueError(f"{MODE_ENV}={self.mode}: allowed: fill, offline")
        self.misses: list[str] = []
        self.fetched: list[str] = []
        self.unpublished: set[str] = set()
        listed = self.root / UNPUBLISHED
        if listed.is_file():
            self.unpublished = set(listed.read_text().split())
        self.lock = threading.Lock()

    def get(self, url: str) -> Path | None:
        """The cached file for URL, fetched first in fill mode; None when it cannot be had."""
        path = cache_path(self.root, url)
        if path is None:
            return None
        if path.is_file():
            return path
        if str(path.relative_to(self.root)) in self.unpublished:
            return None
        if self.mode == "offline":
            with self.lock:
                self.misses.append(url)
            return None
        return self._fetch(url, path)

    def _fetch(self, url: str, path: Path) -> Path | None:
        """URL from its host, else the same path from the other one: a file just published can be
        missing on one of archive.ubuntu.com's mirrors for a while."""
        path.parent.mkdir(parents=True, exist_ok=True)
        host = urlsplit(url).hostname
        for upstream in sorted(UPSTREAMS, key=lambda h: h != host):
            source = url.replace(f"//{host}/", f"//{upstream}/", 1)
            part = path.parent / f".part-{threading.get_ident()}-{path.name}"
            try:
                with part.open("wb") as out, urllib.request.urlopen(source, timeout=60) as answer:
                    shutil.copyfileobj(answer, out, 1 << 20)
            except (urllib.error.URLError, OSError):
                part.unlink(missing_ok=True)
                continue
            os.replace(part, path)  # whole files only: a concurrent reader never sees a part
            with self.lock:
                self.fetched.append(source)
            return path
        with self.lock:
            self.misses.append(url)
            self.unpublished.add(str(path.relative_to(self.root)))
            (self.root / UNPUBLISHED).write_text("".join(f"{u}\n" for u in sorted(self.unpublished)))
        return None


def _handler(cache: ArchiveCache) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _url(self) -> str:
            if self.path.startswith("http://"):
                return self.path  # proxy form: apt with Acquire::http::Proxy, wget with http_proxy
            return f"http://{self.headers.get('Host', '').split(':')[0]}{self.path}"

        def _answer(self, with_body: bool) -> None:
            path = cache.get(self._url())
            if path is None:
                body = f"not in the archive cache: {self._url()}; run {REFILL}\n".encode()
                self.send_response(404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(body)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(path.stat().st_size))
            self.end_headers()
            if with_body:
                with path.open("rb") as source:
                    shutil.copyfileobj(source, self.wfile, 1 << 20)

        def do_GET(self) -> None:
            self._answer(True)

        def do_HEAD(self) -> None:
            self._answer(False)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
        super().server_bind()


@contextlib.contextmanager
def serving(address: str, cache: ArchiveCache, port: int = PORT) -> Iterator[str]:
    """Serve CACHE on ADDRESS:PORT (ADDRESS may be a guest's veth address that appears later);
    yields the proxy URL."""
    with in_thread(_Server((address, port), _handler(cache)), f"archive-cache-{address}") as bound:
        yield f"http://{address}:{bound}"


def size_mb(root: Path | None = None) -> int:
    """The cache's size on disk, in MB (what the docs and the fill step report)."""
    root = root or cache_root()
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.exists() else 0
    return total // 1_000_000
