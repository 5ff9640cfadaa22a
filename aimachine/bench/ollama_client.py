"""Ollama through /api/generate (NDJSON): rates from its own eval_count/eval_duration and
prompt_eval_count/prompt_eval_duration (nanoseconds); TTFT on this machine's clock."""

from __future__ import annotations

import json
from typing import Any

from aimachine.bench.measure import Sample
from aimachine.bench.webcall import EngineClient, bench_error, error_text, json_of

ENGINE = "ollama"
NS = 1e9


class OllamaClient(EngineClient):
    engine = ENGINE

    def ready(self) -> None:
        self._json("GET", "/api/version")

    def version(self) -> str | None:
        return self._json("GET", "/api/version").get("version")

    def check_model(self) -> dict[str, Any]:
        """/api/show answers 404 for a model that is not pulled; returns its details."""
        resp = self._call("POST", "/api/show", json={"model": self.model})
        if resp.status_code == 404:
            raise bench_error(
                f"{ENGINE}: model {self.model!r} is not pulled on the VM: run `ollama pull {self.model}` "
                "there, or add it to services.ollama.models in the catalog and re-deploy")
        return json_of(ENGINE, resp).get("details") or {}

    def weight_bytes(self) -> int | None:
        """The model's file size from /api/tags (/api/show carries no size)."""
        entry = self._entry("/api/tags")
        return int(entry["size"]) if entry and entry.get("size") else None

    def gpu_share(self) -> float | None:
        """Share of the loaded model in GPU memory (/api/ps size_vram / size): 1.0 = all on the GPU."""
        entry = self._entry("/api/ps")
        return entry.get("size_vram", 0) / entry["size"] if entry and entry.get("size") else None

    def _entry(self, path: str) -> dict[str, Any] | None:
        """This model's entry in /api/tags or /api/ps, which name a model pulled without a tag
        `NAME:latest` (docs/api.md of Ollama: "name": "mistral:latest")."""
        wanted = {self.model, f"{self.model}:latest"}
        models = self._json("GET", path).get("models", [])
        return next((m for m in models if wanted & {m.get("name"), m.get("model")}), None)

    def stream(self, prompt: str, max_tokens: int, seed: int) -> Sample:
        body = {"model": self.model, "prompt": prompt, "stream": True,
                "options": {"temperature": 0, "seed": seed, "num_predict": max_tokens}}
        sent = self.clock()
        resp = self._call("POST", "/api/generate", json=body, stream=True)
        if resp.status_code == 404:
            raise bench_error(f"{ENGINE}: model {self.model!r} is not pulled on the VM: run "
                              f"`ollama pull {self.model}` there")
        if not resp.ok:
            json_of(ENGINE, resp)
        first = last = None
        final: dict[str, Any] | None = None
        with resp:
            for line in resp.iter_lines(chunk_size=None):
                if not line.strip():
                    continue
                chunk = json.loads(line)
                if "error" in chunk:
                    raise bench_error(f"{ENGINE}: the stream failed: {error_text(chunk, str(chunk))}")
                if chunk.get("response") or chunk.get("thinking"):
                    last = self.clock()
                    first = first or last
                if chunk.get("done"):
                    final = chunk
                    break
        if final is None or first is None or not final.get("eval_count"):
            raise bench_error(f"{ENGINE}: the stream from {self.base} ended without tokens or without "
                              "eval_count/eval_duration in its last line")
        return Sample(sent=sent, first_token=first, last_token=last,
                      prompt_tokens=int(final.get("prompt_eval_count") or 0),
                      completion_tokens=int(final["eval_count"]),
                      engine_decode_s=final.get("eval_duration", 0) / NS or None,
                      engine_prompt_s=final.get("prompt_eval_duration", 0) / NS or None)
