"""One bench: per engine, check it is up and serves the model, find its weight size, run the plan,
and put everything a script needs into one report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aimachine.bench import remote
from aimachine.bench.endpoints import open_endpoints
from aimachine.bench.gateway_client import GatewayClient
from aimachine.bench.ollama_client import OllamaClient
from aimachine.bench.report import at, judge_nfr6, level_dict
from aimachine.bench.roofline import GB, Weights, fraction, roofline_tps
from aimachine.bench.runner import Plan, bench_engine
from aimachine.bench.vllm_client import VllmClient
from aimachine.catalog import ollama_names
from aimachine.catalog.schema import Vm
from aimachine.errors import PhaseError

ENGINES = ("vllm", "ollama")


@dataclass(frozen=True)
class ViaGateway:
    """Bench through the catalog's gateway: its base URL (no /v1) and the master key (never printed)."""

    url: str
    key: str = field(repr=False)


@dataclass(frozen=True)
class Options:
    engines: tuple[str, ...]
    model: str | None = None            # one engine only
    urls: dict[str, str | None] | None = None
    weights_gb: float | None = None     # vLLM weight size when it cannot be read over SSH
    wait_s: float = 300
    plan: Plan = field(default_factory=Plan)
    gateway: ViaGateway | None = None  # every engine's model through the gateway (--via-gateway)


def model_for(vm: Vm, engine: str, given: str | None, via_gateway: bool = False) -> str:
    """The model to bench; through the gateway, its route's name (Ollama's with its tag: llama3.2:latest)."""
    if given:
        return given
    if engine == "vllm":
        return vm.services.vllm.model
    if vm.services.ollama.models:
        model = vm.services.ollama.models[0]
        return ollama_names.listed_as(model) if via_gateway else model
    raise PhaseError("bench", f"no Ollama model to bench: {vm.name} has services.ollama.models: []; add "
                              "one there (and deploy), or run `aimachine bench "
                              f"{vm.name} --engine ollama --model NAME`")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def run_bench(vm: Vm, opts: Options, progress: Callable[[str], None]) -> dict[str, Any]:
    models = {e: model_for(vm, e, opts.model, opts.gateway is not None) for e in opts.engines}
    started = _now()
    urls = {e: opts.gateway.url for e in opts.engines} if opts.gateway else (opts.urls or {})
    with open_endpoints(vm, list(opts.engines), urls) as ends:
        gpu = remote.gpu_info(ends.ssh) if ends.ssh else {
            "name": None, "driver": None,
            "reason": "bench went through the gateway: no SSH to run nvidia-smi" if opts.gateway else
                      "bench was pointed at URLs only: no SSH to run nvidia-smi"}
        engines = []
        for engine in opts.engines:
            progress(f"bench: {engine} at {ends.urls[engine]} ({models[engine]})")
            engines.append(_bench_one(vm, engine, models[engine], ends, opts, progress))
    return {"vm": vm.name, "started_at": started, "finished_at": _now(), "gpu": gpu,
            "memory_bandwidth_gbps": vm.gpu.memory_bandwidth_gbps,
            "settings": {"max_tokens": opts.plan.max_tokens, "runs": opts.plan.runs,
                         "warmup": opts.plan.warmup, "seed": opts.plan.seed, "temperature": 0,
                         "concurrency": list(opts.plan.levels),
                         "prompts": {k: len(v.split()) for k, v in opts.plan.prompts.items()}},
            "engines": engines}


def _bench_one(vm: Vm, engine: str, model: str, ends: Any, opts: Options,
               progress: Callable[[str], None]) -> dict[str, Any]:
    url = ends.urls[engine]
    extra: dict[str, Any] = {}
    if opts.gateway:  # OpenAI's API for both engines' routes, with the key
        client: Any = GatewayClient(url, model, opts.wait_s, opts.gateway.key)
        client.ready()
        client.check_model()
        weights = (Weights(round(opts.weights_gb * GB), "--weights-gb") if opts.weights_gb else
                   Weights(None, "through the gateway: pass --weights-gb to draw the roofline"))
        extra["via"] = "gateway"
    elif engine == "vllm":
        client = VllmClient(url, model, opts.wait_s)
        client.ready()
        client.check_model()
        weights = _vllm_weights(vm, model, ends, opts)
    else:
        client = OllamaClient(url, model, opts.wait_s)
        client.ready()
        extra["details"] = client.check_model()
        size = client.weight_bytes()
        weights = Weights(size, "ollama /api/tags size" if size else "ollama /api/tags lists no size")
    if engine == "ollama":
        parallel = vm.services.ollama.num_parallel
        if max(opts.plan.levels) > parallel:
            extra["note"] = (f"OLLAMA_NUM_PARALLEL is {parallel} in the catalog: requests beyond "
                             f"{parallel} queue, so their TTFT includes the wait")
    version = client.version()
    if opts.gateway:  # LiteLLM's release; the engine's own is not asked through it
        extra["gateway_version"], version = version, None
    results = bench_engine(engine, client, opts.plan, progress)
    if engine == "ollama" and not opts.gateway:
        extra["gpu_share"] = client.gpu_share()
    roof = roofline_tps(vm.gpu.memory_bandwidth_gbps, weights.bytes)
    single = at(results, "short", 1) or (results[0] if results else None)
    return {"engine": engine, "url": url, "version": version, "model": model,
            "weights": {"bytes": weights.bytes, "source": weights.source},
            "roofline_tps": roof, "roofline_fraction": fraction(single and single.decode_tps, roof),
            "nfr6": judge_nfr6(results), "results": [level_dict(r) for r in results], **extra}


def _vllm_weights(vm: Vm, model: str, ends: Any, opts: Options) -> Weights:
    if opts.weights_gb:
        return Weights(round(opts.weights_gb * GB), "--weights-gb")
    if ends.ssh is None:
        return Weights(None, "pointed at a URL only: pass --weights-gb to draw the roofline")
    return remote.vllm_weights(ends.ssh, vm.services.vllm.cache_dir, model)
