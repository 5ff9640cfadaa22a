"""The fetcher's status as the admin reads it, and where configure's time went."""

from __future__ import annotations

import json

from aimachine import transfers
from aimachine.configure.launcher import Outcome, Progress
from aimachine.guest.parsers import parse_fetch_check

# a status file as aimachine/onvm/fetch_models.py writes it (its Progress.write), mid-download
RUNNING = {"plan": "8ede110e8dc193a0", "state": "running", "bytes": 1_200_000_000, "total": 5_500_000_000,
           "fetched": 700_000_000, "resumed": 500_000_000, "rate": 11_000_000, "started": 1000.0,
           "updated": 1064.0, "current": "Qwen/Qwen2.5-7B-Instruct-AWQ/model-00001-of-00002.safetensors",
           "error": ""}


def test_a_running_download_says_bytes_total_rate_and_time_left():
    status = transfers.parse_status(json.dumps(RUNNING))
    assert transfers.progress_text("Qwen/Qwen2.5-7B-Instruct-AWQ", status) == (
        "Qwen/Qwen2.5-7B-Instruct-AWQ: 1.2 GB of 5.5 GB (22%), 11.0 MB/s, about 6 min 31 s left")


def test_a_finished_download_says_what_moved_and_what_was_there():
    done = {**RUNNING, "state": "done", "bytes": 5_500_000_000, "fetched": 5_000_000_000,
            "finished": 1500.0}
    status = transfers.parse_status(json.dumps(done))
    assert transfers.done_text("M", status) == (
        "fetched M: 5.0 GB in 8 min 20 s (10.0 MB/s); 500 MB were already there from an earlier run")


def test_a_half_written_or_missing_status_is_none():
    assert transfers.parse_status("") is None
    assert transfers.parse_status('{"plan": "x", "state": "run') is None


def test_bytes_are_given_in_the_units_link_speeds_use():
    assert [transfers.format_bytes(n) for n in (0, 999, 1000, 15_300, 812_000_000, 5.5e9)] == [
        "0 B", "999 B", "1.0 kB", "15.3 kB", "812 MB", "5.5 GB"]


def test_the_fetch_check_reads_each_model_once():
    assert parse_fetch_check("complete Qwen/A\nmissing Org/B\nnoise\n") == {"Qwen/A": "complete",
                                                                           "Org/B": "missing"}


def test_progress_times_each_operation_and_keeps_the_downloads():
    now = [0.0]
    seen: list[str] = []
    progress = Progress(seen.append, clock=lambda: now[0])
    progress.line("--> Preparing operations...")
    now[0] = 2.0
    progress.line("--> Starting operation: vllm | vLLM 0.32.0 in /opt/vllm/venv")
    now[0] = 250.0
    progress.line("--> Starting operation: vllm | Wait for the download of M")
    progress.line("    NOTE: fetched M: 5.5 GB in 8 min 00 s (11.5 MB/s)")
    now[0] = 255.0
    progress.close()
    assert progress.timings == [("vllm | vLLM 0.32.0 in /opt/vllm/venv", 248.0),
                                ("vllm | Wait for the download of M", 5.0)]
    outcome = Outcome(3, 0, [], tuple(progress.timings), tuple(progress.fetched))
    assert outcome.where_the_time_went() == ["fetched M: 5.5 GB in 8 min 00 s (11.5 MB/s)",
                                             "4 min 08 s  vllm | vLLM 0.32.0 in /opt/vllm/venv"]
