"""The commands that clear Ollama off the GPU before vLLM restarts, and load its models again after, run
for real in bash against a stand-in `ollama` CLI and a local /api/generate.

The stand-in prints `ollama ps` as Ollama 0.32.15's ListRunningHandler does (cmd/cmd.go: tablewriter,
header NAME ID SIZE PROCESSOR CONTEXT UNTIL, no border, four spaces of padding) and `stop` unloads the
model (StopHandler: a generate request with keep_alive 0); a model being unloaded is still listed for a
moment ("Stopping..."), as the real one is.
"""

from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from aimachine.configure import ollama

STANDIN = r"""#!/bin/sh
# ollama ps / ollama stop NAME, over the list of loaded models in $STATE (one name a line)
case "$1" in
  ps)
    printf 'NAME           ID              SIZE      PROCESSOR    CONTEXT    UNTIL                 \n'
    while read -r m; do
      [ -n "$m" ] || continue
      if [ -e "$STATE.stopping.$m" ]; then until='Stopping...'; else until='4 minutes from now'; fi
      printf '%s    a80c4f17acd5    3.4 GB    100%% GPU     4096       %s    \n' "$m" "$until"
    done < "$STATE"
    # a stop takes one more listing to finish, as the real unload takes a moment
    for f in "$STATE".stopping.*; do [ -e "$f" ] || continue; m=${f#"$STATE.stopping."}
      grep -vxF "$m" "$STATE" > "$STATE.new"; mv "$STATE.new" "$STATE"; rm -f "$f"; done ;;
  stop)
    grep -qxF "$2" "$STATE" || { echo "Error: couldn't find model \"$2\" to stop" >&2; exit 1; }
    touch "$STATE.stopping.$2" ;;
  *) exit 2 ;;
esac
"""


class _Generate(BaseHTTPRequestHandler):
    loaded: ClassVar[list[str]] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).loaded.append(body["model"])
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"model": body["model"], "done": True}).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def ollama_host(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Generate)
    _Generate.loaded = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    cli = tmp_path / "ollama"
    cli.write_text(STANDIN)
    cli.chmod(0o755)
    yield tmp_path, f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _run(command: str, tmp: Path, state: Path) -> subprocess.CompletedProcess:
    command = command.replace(ollama.OLLAMA, str(tmp / "ollama")).replace(ollama.UNLOADED, str(tmp / "run/x"))
    command = command.replace("/run/aimachine", str(tmp / "run"))
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "STATE": str(state)}, check=False)


def test_loaded_models_are_unloaded_then_loaded_again(ollama_host):
    tmp, bind = ollama_host
    state = tmp / "loaded"
    state.write_text("llama3.2:3b\nqwen3:8b\n")
    unload = _run(ollama.unload_command(bind), tmp, state)
    assert unload.returncode == 0, unload.stderr
    assert unload.stdout.strip() == "unloaded: llama3.2:3b qwen3:8b"
    assert state.read_text().strip() == ""  # the GPU is free when vLLM restarts
    restore = _run(ollama.restore_command(bind), tmp, state)
    assert restore.returncode == 0, restore.stdout + restore.stderr
    assert _Generate.loaded == ["llama3.2:3b", "qwen3:8b"]
    assert not (tmp / "run/x").exists()


def test_nothing_loaded_or_ollama_down_unloads_and_restores_nothing(ollama_host):
    tmp, bind = ollama_host
    state = tmp / "loaded"
    state.write_text("")
    assert _run(ollama.unload_command(bind), tmp, state).returncode == 0
    assert _run(ollama.restore_command(bind), tmp, state).returncode == 0
    (tmp / "ollama").write_text("#!/bin/sh\necho 'Error: could not connect to ollama server' >&2\nexit 1\n")
    down = _run(ollama.unload_command(bind), tmp, state)
    assert down.returncode == 0 and down.stdout.strip() == "unloaded:"
    assert _run(ollama.restore_command(bind), tmp, state).returncode == 0
    assert _Generate.loaded == []


def test_a_model_that_will_not_unload_stops_the_run_before_vllm_restarts(ollama_host):
    tmp, bind = ollama_host
    state = tmp / "loaded"
    state.write_text("llama3.2:3b\n")
    (tmp / "ollama").write_text(STANDIN.replace('touch "$STATE.stopping.$2"', "exit 1"))
    stuck = _run(ollama.unload_command(bind), tmp, state)
    assert stuck.returncode == 1
