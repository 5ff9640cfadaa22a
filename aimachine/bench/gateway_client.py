"""The catalog's gateway (LiteLLM's proxy) as bench reaches it: OpenAI's API as vLLM serves it, with the
master key as a bearer token. What differs from vLLM: its health is /health/liveliness, its version is its
OpenAPI document's, and it serves no vLLM /metrics, so every round is timed on the client's clock (the
report says "clock": "client"). The key goes in the Authorization header only; an error that quotes it
never shows it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aimachine.bench.vllm_client import VllmClient
from aimachine.bench.webcall import bench_error, error_text, json_of
from aimachine.errors import PhaseError

ENGINE = "aimachine-gateway"  # its unit: the errors say `systemctl status aimachine-gateway`
HIDDEN = "(the master key)"


class GatewayClient(VllmClient):
    engine = ENGINE
    counters = None  # no vLLM /metrics behind LiteLLM: runner.measured_round uses the client's clock

    def __init__(self, base_url: str, model: str, wait_s: float, key: str,
                 clock: Callable[[], float] = time.perf_counter):
        super().__init__(base_url, model, wait_s, clock)
        self._key = key

    def _hide(self, err: PhaseError) -> PhaseError:
        err.message = err.message.replace(self._key, HIDDEN)
        err.args = (err.message,)
        return err

    def _call(self, method: str, path: str, **kwargs: Any):
        headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {self._key}"}
        try:
            return super()._call(method, path, headers=headers, **kwargs)
        except PhaseError as err:
            raise self._hide(err) from None

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self._call(method, path, **kwargs)
        if resp.status_code in (400, 401, 403):
            data = _json_or_none(resp)
            raise self._hide(bench_error(
                f"{ENGINE}: {self.base}{path} refused the key (HTTP {resp.status_code}: "
                f"{error_text(data, resp.text)}): bench sends the key in the catalog's "
                "gateway.master_key_file; the gateway has the one its last configuration wrote "
                "(`aimachine configure GATEWAY_VM --steps gateway` writes it again)"))
        try:
            return json_of(ENGINE, resp)
        except PhaseError as err:
            raise self._hide(err) from None

    def stream(self, prompt: str, max_tokens: int, seed: int):
        try:
            return super().stream(prompt, max_tokens, seed)
        except PhaseError as err:
            raise self._hide(err) from None

    def ready(self) -> None:
        """GET /health/liveliness until 200 (a 503 is waited out by webcall.call)."""
        resp = self._call("GET", "/health/liveliness")
        if resp.status_code != 200:
            raise bench_error(f"{ENGINE}: {self.base}/health/liveliness answered HTTP {resp.status_code}: "
                              f"see `journalctl -u {ENGINE}` on the gateway's VM")

    def version(self) -> str | None:
        """LiteLLM's release, as its OpenAPI document states it (it serves no /version)."""
        resp = self._call("GET", "/openapi.json")
        data = _json_or_none(resp) if resp.ok else None
        return (data.get("info") or {}).get("version") if isinstance(data, dict) else None

    def check_model(self) -> None:
        data = self._json("GET", "/v1/models")
        routed = [m.get("id") for m in data.get("data", [])]
        if self.model not in routed:
            raise bench_error(
                f"{ENGINE}: the gateway routes no model {self.model!r}; it routes "
                f"{', '.join(routed) or 'nothing'}: configure the gateway's VM again after a catalog change "
                "(its routes come from every VM's engines), or bench with --model NAME")


def _json_or_none(resp: Any) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None
