"""vLLM through its OpenAI-compatible API: token counts from the stream's usage chunk
(`stream_options.include_usage`), never from characters."""

from __future__ import annotations

import json

from aimachine.bench import vllm_metrics
from aimachine.bench.measure import Sample
from aimachine.bench.webcall import EngineClient, bench_error, error_text, json_of

ENGINE = "vllm"


class VllmClient(EngineClient):
    engine = ENGINE

    def ready(self) -> None:
        """GET /health until 200: 503 means loading (or a dead engine) and is waited out."""
        resp = self._call("GET", "/health")
        if resp.status_code != 200:
            raise bench_error(f"{ENGINE}: {self.base}/health answered HTTP {resp.status_code}: "
                              "see `journalctl -u vllm` on the VM")

    def version(self) -> str | None:
        resp = self._call("GET", "/version")
        return json_of(ENGINE, resp).get("version") if resp.ok else None

    def counters(self) -> vllm_metrics.Counters | None:
        """vLLM's own request timing (GET /metrics); None where it is not served."""
        resp = self._call("GET", "/metrics")
        return vllm_metrics.parse(resp.text) if resp.ok else None

    def check_model(self) -> None:
        """vLLM serves exactly the models it was started with: say which when ours is not one."""
        data = self._json("GET", "/v1/models")
        served = [m.get("id") for m in data.get("data", [])]
        if self.model not in served:
            raise bench_error(
                f"{ENGINE}: model {self.model!r} is not served; vLLM serves "
                f"{', '.join(served) or 'nothing'}: "
                f"bench with --model {served[0] if served else 'NAME'}, or set services.vllm.model in the "
                "catalog and re-deploy")

    def stream(self, prompt: str, max_tokens: int, seed: int) -> Sample:
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": max_tokens,
            "temperature": 0,
            "seed": seed,
            "ignore_eos": True,  # every run decodes exactly max_tokens, so runs compare
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        sent = self.clock()
        resp = self._call("POST", "/v1/chat/completions", json=body, stream=True)
        if not resp.ok:
            json_of(ENGINE, resp)  # raises with the engine's message
        first = last = None
        usage = None
        with resp:
            for line in resp.iter_lines(chunk_size=None):
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    break
                chunk = json.loads(payload)
                if "error" in chunk or chunk.get("object") == "error":
                    raise bench_error(f"{ENGINE}: the stream failed: {error_text(chunk, str(chunk))}")
                if chunk.get("usage"):
                    usage = chunk["usage"]
                if any((c.get("delta") or {}).get("content") for c in chunk.get("choices") or []):
                    last = self.clock()
                    first = first or last
        if usage is None or first is None:
            raise bench_error(f"{ENGINE}: the stream from {self.base} ended without tokens or without its "
                              "usage chunk (stream_options.include_usage): is this vLLM >= 0.5?")
        return Sample(sent=sent, first_token=first, last_token=last,
                      prompt_tokens=int(usage.get("prompt_tokens") or 0),
                      completion_tokens=int(usage.get("completion_tokens") or 0))
