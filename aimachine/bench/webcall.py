"""HTTP to an engine with the errors an admin meets turned into one line that says what to do."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aimachine.errors import PhaseError

if TYPE_CHECKING:
    import requests

CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 300  # a long prompt at high concurrency may wait this long for its first token


def bench_error(message: str) -> PhaseError:
    return PhaseError("bench", message)


def call(engine: str, method: str, url: str, wait_s: float, **kwargs: Any) -> requests.Response:
    """One request; a 503 (model loading, engine busy) is retried until `wait_s` has passed."""
    import requests  # here, not at the top: `aimachine --help` does not need it

    deadline = time.monotonic() + wait_s
    while True:
        try:
            resp = requests.request(method, url, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S), **kwargs)
        except requests.ConnectionError as exc:
            raise bench_error(
                f"{engine}: nothing answers at {url} ({_reason(exc)}): the service is stopped or still "
                f"loading its model; on the VM check `systemctl status {engine}` and "
                f"`journalctl -u {engine} -f`, then re-run") from None
        except requests.Timeout:
            raise bench_error(f"{engine}: no answer from {url} within {READ_TIMEOUT_S} s: the engine "
                              f"is stuck or overloaded; see `journalctl -u {engine}` on the VM") from None
        if resp.status_code != 503:
            return resp
        resp.close()
        if time.monotonic() + 1 > deadline:
            raise bench_error(
                f"{engine}: {url} still answers 503 (loading or not ready) after {wait_s:.0f} s: wait "
                f"until the model has loaded (`journalctl -u {engine} -f` on the VM) or raise --wait")
        time.sleep(1)


def _reason(exc: Exception) -> str:
    text = str(exc)
    for known in ("Connection refused", "Connection reset", "Connection aborted", "Name or service"):
        if known in text:
            return known.lower()
    return "connection failed"


def json_of(engine: str, resp: requests.Response) -> Any:
    """The body as JSON, or a one-line error naming the status and the engine's own message."""
    try:
        data = resp.json()
    except ValueError:
        data = None
    if resp.ok and data is not None:
        return data
    raise bench_error(f"{engine}: {resp.request.method} {resp.url} answered HTTP {resp.status_code}: "
                      f"{error_text(data, resp.text)}")


def error_text(data: Any, fallback: str) -> str:
    """The message an engine puts in an error body (Ollama: error; vLLM/OpenAI: message)."""
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            err = err.get("message", err)
        if isinstance(err, str):
            return err
        if isinstance(data.get("message"), str):
            return data["message"]
    return fallback.strip()[:200] or "no message"


class EngineClient:
    """What both engine clients share: where the engine answers, which model, how long to wait."""

    engine = "engine"

    def __init__(self, base_url: str, model: str, wait_s: float,
                 clock: Callable[[], float] = time.perf_counter):
        self.base = base_url.rstrip("/")
        self.model = model
        self.wait_s = wait_s
        self.clock = clock  # when a request went out and each token came back

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return call(self.engine, method, f"{self.base}{path}", self.wait_s, **kwargs)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return json_of(self.engine, self._call(method, path, **kwargs))
