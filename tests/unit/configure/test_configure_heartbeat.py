"""A heartbeat while pyinfra runs one operation silently (a model pull, `pip install vllm`): real
processes that print and then sleep, with a 0.1 s interval instead of 30 s."""

from __future__ import annotations

import subprocess
import sys

from deploy.configure.launcher import Progress, configure, follow
from tests.conftest import ROOT


def script(*steps: str) -> subprocess.Popen:
    """A stand-in for pyinfra: STEPS are lines for stderr, or `sleep N`."""
    code = ["import sys, time"]
    for step in steps:
        if step.startswith("sleep "):
            code.append(f"time.sleep({float(step.split()[1])})")
        else:
            code.append(f"print({step!r}, file=sys.stderr, flush=True)")
    return subprocess.Popen([sys.executable, "-c", "\n".join(code)], stderr=subprocess.PIPE, text=True)


def run(proc: subprocess.Popen, interval: float = 0.1) -> list[str]:
    shown: list[str] = []
    progress = Progress(shown.append)
    follow(proc.stderr, progress.line, progress.heartbeat, interval)
    proc.wait()
    return shown


def test_a_silent_operation_gets_a_heartbeat_every_interval():
    shown = run(script("--> Starting operation: ollama | Pull model llama3.1:8b", "sleep 0.55",
                       "    [vm] Success"))
    assert shown[0] == "  ollama | Pull model llama3.1:8b"
    beats = [line for line in shown if line.startswith("  ... still running: ")]
    assert 3 <= len(beats) <= 6, shown
    assert all(b.startswith("  ... still running: ollama | Pull model llama3.1:8b (") for b in beats)
    assert shown[-1] == "    [vm] Success"


def test_no_heartbeat_while_lines_are_shown():
    steps = [s for i in range(10) for s in (f"--> Starting operation: base | op {i}", "sleep 0.02")]
    shown = run(script(*steps), interval=2.0)  # the interval covers the interpreter's start
    assert not [line for line in shown if "still running" in line]
    assert len(shown) == 10


def test_lines_the_admin_does_not_see_do_not_count_as_progress():
    steps = ["--> Starting operation: vllm | vLLM 0.32.0 in /opt/vllm/venv"]
    steps += [s for _ in range(15) for s in ("    Collecting torch (debug noise)", "sleep 0.03")]
    beats = [line for line in run(script(*steps)) if "still running" in line]
    assert len(beats) >= 2 and "vllm | vLLM 0.32.0 in /opt/vllm/venv" in beats[0]


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


def test_configure_shows_the_heartbeat_of_a_slow_operation(tmp_path):
    """End to end through pyinfra's @fake connector, each command taking 0.3 s."""
    shown: list[str] = []
    env = {"AIMACHINE_SSH_HOST": "@fake/vm", "PYINFRA_FAKE_DELAY": "0.3", "PYINFRA_FAKE_DELAY_JITTER": "0",
           "AIMACHINE_STATE_DIR": str(tmp_path)}
    outcome = configure(str(ROOT / "catalog.yml"), "vm-llm-aimachine", steps="monitoring", echo=shown.append,
                        env=env, heartbeat_s=0.1)
    assert outcome.changed == 6
    assert [line for line in shown if line.startswith("  ... still running: monitoring | ")], shown
