"""The model fetcher (aimachine/onvm/fetch_models.py) against the local Hub mirror (aimachine/rehearsal/
hub_mirror.py), both checked by the real client: huggingface_hub downloads from the mirror as from the
Hub, and finds what the fetcher wrote with HF_HUB_OFFLINE, as vLLM will. On 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import snapshot_download

from aimachine.rehearsal import hub_mirror
from aimachine.rehearsal.payloads import build_model_repo

FETCHER = Path(__file__).resolve().parents[2] / "aimachine" / "onvm" / "fetch_models.py"
REPO = "Qwen/Tiny-Instruct-AWQ"


class Served:
    def __init__(self, root: Path, rates: dict[str, float] | None = None):
        self.log = root / "requests.jsonl"
        self.mirror = hub_mirror.Mirror(root, rates or {}, self.log, page_size=2)  # the tree comes in pages
        self.server = hub_mirror.serve(self.mirror)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def requests(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Served]:
    build_model_repo(tmp_path / "mirror", REPO, weights_bytes=3_000_000)
    served = Served(tmp_path / "mirror")
    yield served
    served.server.shutdown()


def write_plan(work: Path, endpoint: str, revision: str = "main") -> Path:
    plan = {"status": str(work / "state" / "status.json"), "state_dir": str(work / "state"),
            "models": [{"kind": "hf", "endpoint": endpoint, "repo": REPO, "revision": revision,
                        "hub_cache": str(work / "hf" / "hub"), "user": pwd.getpwuid(os.getuid()).pw_name}]}
    path = work / "plan.json"
    path.write_text(json.dumps(plan))
    return path


def fetcher(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(FETCHER), *args], capture_output=True, text=True, timeout=120,
                          **kwargs)


def status(work: Path) -> dict:
    return json.loads((work / "state" / "status.json").read_text())


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_mirror_speaks_the_hub_protocol_as_huggingface_hub_reads_it(mirror, tmp_path):
    got = snapshot_download(REPO, cache_dir=tmp_path / "client", endpoint=mirror.url)
    assert tree(Path(got)) == tree(tmp_path / "mirror" / "hub" / REPO)
    # the weights came through the redirect to the "CDN", as from the Hub
    assert any(r["path"].startswith("/lfs/") and r["status"] == 200 for r in mirror.requests())


def test_the_fetched_model_is_what_huggingface_hub_finds_offline(mirror, tmp_path, monkeypatch):
    plan = write_plan(tmp_path, mirror.url)
    done = fetcher("fetch", str(plan))
    assert done.returncode == 0, done.stderr
    assert status(tmp_path)["state"] == "done"
    assert fetcher("check", str(plan)).stdout.strip() == f"complete {REPO}"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    found = snapshot_download(REPO, cache_dir=tmp_path / "hf" / "hub", local_files_only=True)
    assert tree(Path(found)) == tree(tmp_path / "mirror" / "hub" / REPO)
    # blobs are named as huggingface_hub names its own: a later download by vLLM would reuse them
    client = Path(snapshot_download(REPO, cache_dir=tmp_path / "client", endpoint=mirror.url))
    names = {p.name for p in (client.parents[1] / "blobs").iterdir()}
    assert {p.name for p in (Path(found).parents[1] / "blobs").iterdir()} == names


def test_check_reads_a_missing_blob_as_missing(mirror, tmp_path):
    plan = write_plan(tmp_path, mirror.url)
    assert fetcher("fetch", str(plan)).returncode == 0
    blobs = tmp_path / "hf" / "hub" / "models--Qwen--Tiny-Instruct-AWQ" / "blobs"
    max(blobs.iterdir(), key=lambda p: p.stat().st_size).unlink()
    assert fetcher("check", str(plan)).stdout.strip() == f"missing {REPO}"
    assert fetcher("check", "-", input=plan.read_text()).stdout.strip() == f"missing {REPO}"


def test_an_interrupted_download_resumes_from_its_part_file(tmp_path):
    build_model_repo(tmp_path / "mirror", REPO, weights_bytes=3_000_000)
    served = Served(tmp_path / "mirror", {"hub": 1_000_000})
    plan = write_plan(tmp_path, served.url)
    first = subprocess.Popen([sys.executable, str(FETCHER), "fetch", str(plan)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.2)
        try:
            if status(tmp_path)["bytes"] > 1_000_000:
                break
        except (OSError, ValueError):
            pass
    first.send_signal(signal.SIGKILL)  # as a reboot or a power cut would stop it
    first.wait()
    parts = list((tmp_path / "hf").rglob("*.incomplete"))
    assert len(parts) == 1
    kept = parts[0].stat().st_size
    assert 0 < kept < 3_000_000
    again = fetcher("fetch", str(plan))
    assert again.returncode == 0, again.stderr
    blob_gets = [r for r in served.requests() if r["path"].startswith("/lfs/")]
    assert blob_gets[-1]["start"] == kept  # asked with Range: bytes=KEPT-
    assert blob_gets[-1]["sent"] == 3_000_000 - kept  # what the part file holds is not fetched again
    assert status(tmp_path)["resumed"] == kept
    assert fetcher("check", str(plan)).stdout.strip() == f"complete {REPO}"
    served.server.shutdown()


def test_a_part_that_fails_its_sha256_is_removed_and_named(mirror, tmp_path):
    plan = write_plan(tmp_path, mirror.url)
    weights = tmp_path / "mirror" / "hub" / REPO / "model.safetensors"
    sha = hub_mirror.file_sha256(weights)
    blobs = tmp_path / "hf" / "hub" / "models--Qwen--Tiny-Instruct-AWQ" / "blobs"
    blobs.mkdir(parents=True)
    (blobs / f"{sha}.incomplete").write_bytes(b"\0" * weights.stat().st_size)  # whole, but wrong
    failed = fetcher("fetch", str(plan))
    assert failed.returncode == 1
    assert status(tmp_path)["state"] == "failed"
    assert f"model.safetensors does not match its sha256 {sha}" in status(tmp_path)["error"]
    assert not (blobs / f"{sha}.incomplete").exists()
    assert fetcher("fetch", str(plan)).returncode == 0  # and the next run fetches it whole


def test_an_unknown_revision_fails_with_the_hub_answer(mirror, tmp_path):
    plan = write_plan(tmp_path, mirror.url, revision="v9-does-not-exist")
    assert fetcher("fetch", str(plan)).returncode == 1
    assert "404" in status(tmp_path)["error"]


@pytest.mark.parametrize("path, oid", [
    ("../../etc/cron.d/x", "a" * 40),
    ("/etc/passwd", "a" * 40),
    ("weights//model.bin", "a" * 40),
    ("config.json", "../../../../usr/bin/sudo"),
])
def test_a_listing_that_would_write_outside_the_cache_is_refused(path, oid):
    from aimachine.onvm.fetch_models import entries_from_tree  # the fetcher runs as root on the VM

    with pytest.raises(ValueError, match="will not write"):
        entries_from_tree([{"type": "file", "path": path, "size": 3, "oid": oid}])
    assert entries_from_tree([{"type": "file", "path": "sub/config.json", "size": 3, "oid": "b" * 40}])
