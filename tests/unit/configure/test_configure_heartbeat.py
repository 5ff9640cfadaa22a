"""A heartbeat while pyinfra runs one operation silently (a model pull, `pip install vllm`): pyinfra's
output as timed events on the test's own clock, a 0.1 s interval instead of 30 s; one real pipe; the run
through pyinfra's @fake connector is in tests/integration/test_configure_heartbeat_fake.py."""

from __future__ import annotations

import queue
import subprocess
import sys

from aimachine.configure.launcher import Progress, follow, read_in_background


class Scripted:
    """pyinfra's stderr as (second, line) events on a clock the test owns: `get` returns the next line if it
    comes within the timeout, else lets the timeout pass and says nothing came. No wall clock involved."""

    def __init__(self, events: list[tuple[float, str]]):
        self.events, self.now = list(events), 0.0

    def clock(self) -> float:
        return self.now

    def get(self, timeout: float) -> str | None:
        if not self.events:
            return None  # the stream ended
        at, line = self.events[0]
        if at > self.now + timeout:
            self.now += timeout
            raise queue.Empty
        self.now = max(self.now, at)
        self.events.pop(0)
        return line


def run(events: list[tuple[float, str]], interval: float = 0.1) -> list[str]:
    source = Scripted(events)
    shown: list[str] = []
    progress = Progress(shown.append, clock=source.clock)
    follow(source, progress.line, progress.heartbeat, interval, clock=source.clock)
    return shown


def test_a_silent_operation_gets_a_heartbeat_every_interval():
    shown = run([(0.0, "--> Starting operation: ollama | Pull model llama3.1:8b"),
                 (0.55, "    [vm] Success")])
    assert shown[0] == "  ollama | Pull model llama3.1:8b"
    beats = [line for line in shown if line.startswith("  ... still running: ")]
    assert beats == [f"  ... still running: ollama | Pull model llama3.1:8b ({s:.1f} s)"
                     for s in (0.1, 0.2, 0.3, 0.4, 0.5)], shown
    assert shown[-1] == "    [vm] Success"


def test_no_heartbeat_while_lines_are_shown():
    shown = run([(i * 0.05, f"--> Starting operation: base | op {i}") for i in range(10)])
    assert not [line for line in shown if "still running" in line]
    assert len(shown) == 10


def test_lines_the_admin_does_not_see_do_not_count_as_progress():
    events = [(0.0, "--> Starting operation: vllm | vLLM 0.32.0 in /opt/vllm/venv")]
    events += [(0.03 * (i + 1), "    Collecting torch (debug noise)") for i in range(15)]
    beats = [line for line in run(events) if "still running" in line]
    assert len(beats) == 4 and "vllm | vLLM 0.32.0 in /opt/vllm/venv" in beats[0]


def test_a_real_process_is_followed_to_its_end():
    """The reader thread over a real pipe: every line arrives, and the end of the stream ends the loop."""
    code = "import sys\nfor i in range(3): print(f'--> Starting operation: base | op {i}', file=sys.stderr)"
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    shown: list[str] = []
    progress = Progress(shown.append)
    follow(read_in_background(proc.stderr), progress.line, lambda: None, interval=60)
    proc.wait()
    assert shown == [f"  base | op {i}" for i in range(3)]


def test_elapsed_time_of_the_current_operation():
    now = [100.0]
    shown: list[str] = []
    progress = Progress(shown.append, clock=lambda: now[0])
    progress.heartbeat()
    assert shown[-1] == "  ... still running: connecting and reading facts (0.0 s)"
    progress.line("--> Preparing operation files...\n")
    now[0] = 145.0
    progress.heartbeat()
    assert shown[-1] == "  ... still running: Preparing operation files (45.0 s)"
    progress.line("--> Starting operation: ollama | Pull model llama3.1:8b \n")
    now[0] += 150
    progress.heartbeat()
    assert shown[-1] == "  ... still running: ollama | Pull model llama3.1:8b (2 min 30 s)"
