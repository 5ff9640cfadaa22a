"""A stand-in for vLLM and Ollama on 127.0.0.1 that streams tokens at a scripted rate.

Both APIs' formats as the engines send them: OpenAI SSE chunks ending in a usage chunk and
`data: [DONE]`; Ollama NDJSON whose last line carries eval_count/eval_duration (ns). Token counts
are words, so a test knows them without a tokenizer.

With a `gateway_key` it stands in for the gateway (LiteLLM's proxy) too: every request but
/health/liveliness and /openapi.json (which answer as LiteLLM's do) must carry that key as a bearer token
(else 401, quoting the token it got, as a careless server might); each request's Authorization header is
kept in `authorizations`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

NS = 1_000_000_000


@dataclass
class Script:
    ttft_s: float = 0.15
    token_interval_s: float = 0.02          # 50 tok/s per stream
    vllm_models: list = field(default_factory=lambda: ["Qwen/Qwen2.5-7B-Instruct-AWQ"])
    ollama_models: dict = field(default_factory=lambda: {"llama3.1:8b": 4_920_753_328})
    not_ready_answers: int = 0              # 503s from /health and /api/version before 200
    vllm_version: str = "0.32.0"
    ollama_version: str = "0.13.5"
    gateway_key: str | None = None          # set: every request needs `Authorization: Bearer KEY`
    litellm_version: str = "1.110.2"
    authorizations: list = field(default_factory=list)

    @property
    def decode_tps(self) -> float:
        return 1 / self.token_interval_s


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: StandIn

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    # -- plumbing --------------------------------------------------------------------------------
    def _json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def _not_ready(self) -> bool:
        with self.server.lock:
            if self.server.script.not_ready_answers > 0:
                self.server.script.not_ready_answers -= 1
                return True
        return False

    def _refused(self) -> bool:
        """As the gateway: a request without the key is refused (the refusal quotes what it got)."""
        s = self.server.script
        sent = self.headers.get("Authorization")
        with self.server.lock:
            s.authorizations.append(sent)
        open_paths = ("/health/liveliness", "/openapi.json")  # LiteLLM answers these without a key
        if s.gateway_key is None or sent == f"Bearer {s.gateway_key}" or self.path in open_paths:
            return False
        self._json(401, {"error": {"message": f"Authentication Error, invalid key: {sent}",
                                   "type": "auth_error", "code": "401"}})
        return True

    # -- routes ----------------------------------------------------------------------------------
    def do_GET(self) -> None:
        s = self.server.script
        if self._refused():
            return
        if self.path == "/health/liveliness":
            self._json(200, "I'm alive!")
        elif self.path == "/openapi.json":
            self._json(200, {"openapi": "3.1.0",
                             "info": {"title": "LiteLLM API", "version": s.litellm_version}})
        elif self.path in ("/health", "/api/version") and self._not_ready():
            self._json(503, {"error": "loading"})
        elif self.path == "/health":
            self._json(200, {})
        elif self.path == "/version":
            self._json(200, {"version": s.vllm_version})
        elif self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "root": m, "max_model_len": 8192} for m in s.vllm_models]})
        elif self.path == "/api/version":
            self._json(200, {"version": s.ollama_version})
        elif self.path == "/api/tags":
            self._json(200, {"models": [{"name": m, "model": m, "size": size, "digest": "0" * 64}
                                        for m, size in s.ollama_models.items()]})
        elif self.path == "/api/ps":
            self._json(200, {"models": [{"name": m, "model": m, "size": size, "size_vram": size}
                                        for m, size in s.ollama_models.items()]})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        body = self._body()
        if self._refused():
            return
        if self.path == "/v1/chat/completions":
            self._vllm_chat(body)
        elif self.path == "/api/generate":
            self._ollama_generate(body)
        elif self.path == "/api/show":
            if body.get("model") in self.server.script.ollama_models:
                self._json(200, {"details": {"parameter_size": "8.0B", "quantization_level": "Q4_K_M"},
                                 "model_info": {}, "capabilities": ["completion"]})
            else:
                self._json(404, {"error": f"model '{body.get('model')}' not found"})
        else:
            self._json(404, {"error": "not found"})

    def _vllm_chat(self, body: dict) -> None:
        s = self.server.script
        if body.get("model") not in s.vllm_models:
            self._json(404, {"object": "error", "message": f"The model `{body.get('model')}` does not exist.",
                             "type": "NotFoundError", "code": 404})
            return
        assert body.get("stream_options") == {"include_usage": True}, "bench must ask for usage"
        prompt_tokens = len(body["messages"][0]["content"].split())
        n = int(body["max_tokens"])
        self._start_stream("text/event-stream")
        time.sleep(s.ttft_s)

        def send(chunk: dict) -> None:
            self._chunk(b"data: " + json.dumps({"id": "chatcmpl-1", "object": "chat.completion.chunk",
                                                "usage": None, **chunk}).encode() + b"\n\n")

        send({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
        for i in range(n):
            if i:
                time.sleep(s.token_interval_s)
            send({"choices": [{"index": 0, "delta": {"content": f" w{i}"}, "finish_reason": None}]})
        send({"choices": [], "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": n,
                                       "total_tokens": prompt_tokens + n}})
        self._chunk(b"data: [DONE]\n\n")
        self._end_stream()

    def _ollama_generate(self, body: dict) -> None:
        s = self.server.script
        if body.get("model") not in s.ollama_models:
            self._json(404, {"error": f"model '{body.get('model')}' not found, try pulling it first"})
            return
        n = int(body["options"]["num_predict"])
        self._start_stream("application/x-ndjson")
        time.sleep(s.ttft_s)
        for i in range(n):
            if i:
                time.sleep(s.token_interval_s)
            self._chunk(json.dumps({"model": body["model"], "response": f" w{i}", "done": False}).encode()
                        + b"\n")
        self._chunk(json.dumps({
            "model": body["model"], "response": "", "done": True, "done_reason": "length",
            "total_duration": int((s.ttft_s + n * s.token_interval_s) * NS), "load_duration": 1000,
            "prompt_eval_count": len(body["prompt"].split()), "prompt_eval_duration": int(s.ttft_s * NS),
            "eval_count": n, "eval_duration": int(n * s.token_interval_s * NS)}).encode() + b"\n")
        self._end_stream()


class StandIn(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script: Script):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = script
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> StandIn:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
