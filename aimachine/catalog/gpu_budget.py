"""Does vLLM's share of the card plus the Ollama models it may hold at once fit the card's memory? (pure)

vLLM preallocates gpu_memory_utilization x the card at start and refuses to start when that much is not
free (vllm/v1/worker/gpu_worker.py; vllm-project/vllm#20305); Ollama holds up to max_loaded_models
models, each at least its weights (the size `ollama list` shows, from its manifest). Sizes come from the
VM's `ollama list` where configure can read them, else from services.ollama.model_sizes_mb.
"""

from __future__ import annotations

from aimachine.catalog.schema import Vm

MIB = 1024**2


def known_sizes(vm: Vm, listed: dict[str, int] | None = None) -> dict[str, int]:
    """Each model's size in bytes: what the VM's `ollama list` shows (LISTED), else the catalog's
    services.ollama.model_sizes_mb (as `ollama list` writes MB: 10**6 bytes)."""
    return {**{m: mb * 10**6 for m, mb in vm.services.ollama.model_sizes_mb.items()}, **(listed or {})}


def _size(sizes: dict[str, int], model: str) -> int | None:
    full = model if ":" in model else f"{model}:latest"
    return sizes.get(model, sizes.get(full))


def overcommit(vm: Vm, listed: dict[str, int] | None = None) -> str | None:
    """A warning when vLLM's share and the largest models Ollama may hold at once (their known_sizes)
    exceed the card's memory (gpu.min_memory_mib); None when they fit or nothing is known."""
    sizes = known_sizes(vm, listed)
    vllm, ollama = vm.services.vllm, vm.services.ollama
    if not (vllm.enabled and ollama.enabled and ollama.models):
        return None
    card = vm.gpu.min_memory_mib
    share = round(vllm.gpu_memory_utilization * card)
    known = sorted(((s, m) for m in ollama.models if (s := _size(sizes, m)) is not None), reverse=True)
    held = known[: ollama.max_loaded_models]
    ollama_mib = round(sum(s for s, _ in held) / MIB)
    if not held or share + ollama_mib <= card:
        return None
    names = ", ".join(f"{m} ({s / MIB:.0f} MiB)" for s, m in held)
    return (f"vLLM's share ({vllm.gpu_memory_utilization} x {card} MiB = {share} MiB) and Ollama's "
            f"{names} need {share + ollama_mib} MiB, more than the card's {card} MiB: vLLM cannot start "
            "while Ollama holds them (or Ollama falls back to the CPU); lower "
            "services.vllm.gpu_memory_utilization, choose smaller Ollama models, or lower "
            "services.ollama.max_loaded_models")


def unknown_sizes(vm: Vm, listed: dict[str, int] | None = None) -> list[str]:
    """The catalog's Ollama models whose size is not known (not counted above)."""
    sizes = known_sizes(vm, listed)
    return [m for m in vm.services.ollama.models if _size(sizes, m) is None]
