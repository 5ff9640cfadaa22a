"""Fetch the vLLM model into its Hugging Face cache, on the VM, in the background of the configuration.

Runs as `aimachine-models.service`, as the model's user (vllm), so the files it writes are that user's
(run as root, as an older unit did, it hands them to that user). The configuration starts it early and
waits for it only just before vLLM starts, so the download runs beside the package installs.
Standard library only: it starts before any venv exists.

The protocol is the Hub's own, as huggingface_hub (2.4) speaks it:
  GET {endpoint}/api/models/{repo}/revision/{revision}   -> {"sha": commit, ...}
  GET {endpoint}/api/models/{repo}/tree/{commit}?recursive=true  (Link: <next>; rel="next" pages)
      -> [{"type": "file", "path", "size", "oid", "lfs": {"oid": sha256, "size"}}, ...]
  GET {endpoint}/{repo}/resolve/{commit}/{path}  (Range: bytes=N- resumes; LFS files redirect)
and the files land in its cache layout, so vLLM (with HF_HUB_OFFLINE=1) finds them without a request:
  {hub}/models--{org}--{name}/blobs/{sha256 | git oid}, snapshots/{commit}/{path} -> ../../blobs/...,
  refs/{revision} = commit. A part file is blobs/{blob}.incomplete, as huggingface_hub names it: an
interrupted download resumes from its size, and each blob is checked (sha256 for LFS, the git blob id
otherwise) before it is moved into place.

  fetch-models.py fetch PLAN   download what is missing; progress in the plan's status file and stdout
  fetch-models.py check PLAN   (PLAN - : from stdin) offline: "complete REPO" or "missing REPO" for each model
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20
STATUS_EVERY_S = 1.0
LOG_EVERY_S = 10.0
RETRIES = 5
NEXT_LINK = re.compile(r'<([^>]+)>;\s*rel="next"')


@dataclass(frozen=True)
class Entry:
    path: str
    size: int
    blob: str  # the blob's name: the LFS sha256, or the git blob id
    lfs: bool


def repo_folder(repo: str) -> str:
    return "models--" + repo.replace("/", "--")


def manifest_path(plan: dict, model: dict) -> Path:
    """Where a finished download lists its files (outside the Hub cache, which is huggingface_hub's)."""
    key = f"{model['repo'].replace('/', '--')}@{model['revision']}"
    return Path(plan["state_dir"]) / f"{key}.json"


BLOB_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def entries_from_tree(items: list[dict]) -> list[Entry]:
    """The files of a tree listing. Names come from the endpoint and the fetcher writes what they name:
    a path that is absolute or climbs out (`..`), or a blob id that is not a hash, is refused."""
    files = []
    for item in items:
        if item.get("type") != "file":
            continue
        lfs = item.get("lfs")
        entry = Entry(item["path"], int(lfs["size"] if lfs else item["size"]),
                      lfs["oid"] if lfs else item["oid"], lfs is not None)
        parts = entry.path.split("/")
        if entry.path.startswith("/") or ".." in parts or "" in parts or not BLOB_ID.fullmatch(entry.blob):
            raise ValueError(f"the endpoint listed a file this fetcher will not write: {entry.path!r} "
                             f"(blob {entry.blob!r})")
        files.append(entry)
    return files


def check(plan: dict) -> list[str]:
    """For each model: "complete REPO" when its manifest's files are all in the cache, else "missing"."""
    lines = []
    for model in plan["models"]:
        lines.append(f"{'complete' if _complete(plan, model) else 'missing'} {model['repo']}")
    return lines


def _complete(plan: dict, model: dict) -> bool:
    try:
        manifest = json.loads(manifest_path(plan, model).read_text())
    except (OSError, ValueError):
        return False
    snapshot = Path(model["hub_cache"]) / repo_folder(model["repo"]) / "snapshots" / manifest["commit"]
    try:
        return all((snapshot / f["path"]).stat().st_size == f["size"] for f in manifest["files"])
    except OSError:
        return False


class Progress:
    """Bytes in place over bytes in all; written to the status file each second, logged each 10 s."""

    def __init__(self, status_file: Path, plan_id: str):
        self.status_file, self.plan_id = status_file, plan_id
        self.total = self.done = self.fetched = self.resumed = 0
        self.started = time.time()
        self.current = ""
        self._written = self._logged = 0.0
        self._window: list[tuple[float, int]] = [(time.monotonic(), 0)]

    def rate(self) -> float:
        """Bytes per second over the last 30 s of this run (the whole run before that)."""
        now = time.monotonic()
        self._window = [(t, b) for t, b in self._window if now - t <= 30] or self._window[-1:]
        t0, b0 = self._window[0]
        return (self.fetched - b0) / (now - t0) if now > t0 else 0.0

    def add(self, count: int) -> None:
        self.done += count
        self.fetched += count
        now = time.monotonic()
        if now - self._written >= STATUS_EVERY_S:
            self._window.append((now, self.fetched))
            self.write("running")
            self._written = now
        if now - self._logged >= LOG_EVERY_S:
            print(f"{self.current}: {self.done} of {self.total} bytes, {self.rate():.0f} B/s", flush=True)
            self._logged = now

    def write(self, state: str, error: str = "") -> None:
        status = {"plan": self.plan_id, "state": state, "bytes": self.done, "total": self.total,
                  "fetched": self.fetched, "resumed": self.resumed, "rate": round(self.rate()),
                  "started": self.started, "updated": time.time(), "current": self.current,
                  "error": error}
        if state != "running":
            status["finished"] = time.time()
        self.status_file.parent.mkdir(parents=True, exist_ok=True)
        part = self.status_file.with_suffix(".part")
        part.write_text(json.dumps(status))
        os.chmod(part, 0o644)
        part.replace(self.status_file)


def _get(url: str, headers: dict[str, str] | None = None, timeout: float = 60):
    request = urllib.request.Request(url, headers={"User-Agent": "aimachine-fetch-models", **(headers or {})})
    return urllib.request.urlopen(request, timeout=timeout)


def _json_pages(url: str) -> list:
    items: list = []
    next_url: str | None = url
    while next_url:
        with _get(next_url) as response:
            page = json.load(response)
            found = NEXT_LINK.search(response.headers.get("Link") or "")
        items.extend(page if isinstance(page, list) else [page])
        next_url = urllib.parse.urljoin(url, found.group(1)) if found else None
    return items


def resolve(model: dict) -> tuple[str, list[Entry]]:
    """The commit the revision names, and the files of that commit."""
    endpoint, repo = model["endpoint"].rstrip("/"), model["repo"]
    revision = urllib.parse.quote(model["revision"], safe="")
    with _get(f"{endpoint}/api/models/{repo}/revision/{revision}") as response:
        commit = json.load(response)["sha"]
    tree = _json_pages(f"{endpoint}/api/models/{repo}/tree/{commit}?recursive=true")
    return commit, entries_from_tree(tree)


def _hasher(entry: Entry):
    if entry.lfs:
        return hashlib.sha256()
    digest = hashlib.sha1()  # a git blob id: sha1 of "blob SIZE\0" and the content
    digest.update(f"blob {entry.size}\0".encode())
    return digest


def _download(url: str, part: Path, entry: Entry, progress: Progress) -> None:
    """Append to PART from its current size until ENTRY.size, retrying a dropped connection."""
    for attempt in range(RETRIES + 1):
        have = part.stat().st_size if part.exists() else 0
        if have >= entry.size:
            return
        try:
            with _get(url, {"Range": f"bytes={have}-", "Accept-Encoding": "identity"}) as response:
                mode = "ab" if response.status == 206 else "wb"  # a server that ignores Range: start over
                if mode == "wb":
                    progress.done -= have
                    progress.resumed -= have
                with open(part, mode) as out:
                    while chunk := response.read(CHUNK):
                        out.write(chunk)
                        progress.add(len(chunk))
            return
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            if attempt == RETRIES or (isinstance(exc, urllib.error.HTTPError) and exc.code < 500):
                raise
            time.sleep(min(30, 2 ** attempt))


def _verify(path: Path, entry: Entry) -> bool:
    digest = _hasher(entry)
    with open(path, "rb") as data:
        while chunk := data.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest() == entry.blob and path.stat().st_size == entry.size


def _own(path: Path, uid: int, gid: int) -> None:
    """Hand PATH to the model's user: only as root (the unit runs as that user, whose files are its own,
    and its system call filter refuses chown)."""
    if os.geteuid() == 0:
        os.chown(path, uid, gid, follow_symlinks=False)


def _makedirs(path: Path, uid: int, gid: int) -> None:
    """Create PATH and its missing parents, each handed to the model's user."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        directory.mkdir()
        _own(directory, uid, gid)


def fetch_model(plan: dict, model: dict, progress: Progress) -> None:
    user = pwd.getpwnam(model["user"])
    uid, gid = user.pw_uid, user.pw_gid
    commit, entries = resolve(model)
    hub = Path(model["hub_cache"])
    storage = hub / repo_folder(model["repo"])
    blobs, snapshot = storage / "blobs", storage / "snapshots" / commit
    _makedirs(blobs, uid, gid)
    _makedirs(snapshot, uid, gid)
    progress.total += sum(e.size for e in entries)
    for entry in entries:
        blob, part = blobs / entry.blob, blobs / f"{entry.blob}.incomplete"
        if blob.exists() and blob.stat().st_size == entry.size:
            progress.done += entry.size
        else:
            if part.exists() and not os.access(part, os.W_OK):
                part.unlink()  # a part file root left (an older unit): fetched again, as this user
            have = part.stat().st_size if part.exists() else 0
            progress.done += have
            progress.resumed += have
            progress.current = f"{model['repo']}/{entry.path}"
            url = (f"{model['endpoint'].rstrip('/')}/{model['repo']}/resolve/{commit}/"
                   + urllib.parse.quote(entry.path))
            _download(url, part, entry, progress)
            if not _verify(part, entry):
                part.unlink()
                raise RuntimeError(f"{model['repo']}/{entry.path} does not match its "
                                   f"{'sha256' if entry.lfs else 'git blob id'} {entry.blob}: removed, "
                                   "the next run fetches it again")
            _own(part, uid, gid)
            os.chmod(part, 0o644)
            part.replace(blob)
        link = snapshot / entry.path
        _makedirs(link.parent, uid, gid)
        if not link.is_symlink():
            link.symlink_to(os.path.relpath(blob, link.parent))
            _own(link, uid, gid)
    if model["revision"] != commit:
        refs = storage / "refs"
        _makedirs(refs, uid, gid)
        (refs / model["revision"]).write_text(commit)
        _own(refs / model["revision"], uid, gid)
    manifest = manifest_path(plan, model)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"commit": commit, "files": [
        {"path": e.path, "size": e.size, "blob": e.blob} for e in entries]}))


def fetch(plan: dict, plan_id: str) -> int:
    progress = Progress(Path(plan["status"]), plan_id)
    progress.write("running")
    try:
        for model in plan["models"]:
            if not _complete(plan, model):
                fetch_model(plan, model, progress)
    except Exception as exc:  # the status file carries it to the configuration's wait
        message = f"{type(exc).__name__}: {exc}"
        progress.write("failed", message)
        print(f"failed: {message}", file=sys.stderr, flush=True)
        return 1
    progress.write("done")
    print(f"done: {progress.done} bytes in place, {progress.fetched} fetched, "
          f"{progress.resumed} resumed", flush=True)
    return 0


def plan_id(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("fetch", "check"):
        print("usage: fetch-models.py fetch|check PLAN (PLAN - : read from stdin)", file=sys.stderr)
        return 2
    text = sys.stdin.read() if argv[2] == "-" else Path(argv[2]).read_text()
    plan = json.loads(text)
    if argv[1] == "check":
        print("\n".join(check(plan)))
        return 0
    return fetch(plan, plan_id(text))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
