"""The decode roofline: at concurrency 1 every token reads all weights once from GPU memory, so
tokens/s cannot exceed memory bandwidth / weight bytes (448 GB/s / 4.9 GB ~ 91 tok/s)."""

from __future__ import annotations

from dataclasses import dataclass

GB = 1e9  # bandwidth is quoted in decimal GB/s, so weights are counted in decimal GB too


@dataclass(frozen=True)
class Weights:
    """Bytes of weights read per token, and where that number came from (shown to the admin)."""

    bytes: int | None
    source: str  # e.g. "ollama /api/tags size"; or why it is unknown when bytes is None


def roofline_tps(bandwidth_gbps: float, weight_bytes: int | None) -> float | None:
    """Upper bound on single-stream decode tokens/s; None when the weight size is unknown."""
    if not weight_bytes or weight_bytes <= 0:
        return None
    return bandwidth_gbps * GB / weight_bytes


def fraction(achieved_tps: float | None, roofline: float | None) -> float | None:
    """Share of the roofline reached (0.7 = 70 %)."""
    if achieved_tps is None or not roofline:
        return None
    return achieved_tps / roofline


def safetensors_bytes(listing: str) -> tuple[int, str] | None:
    """Sum the weights of one snapshot from `remote.SAFETENSORS_LISTING` output.

    The listing holds `ref <hash>` (the snapshot refs/main points to, when the cache has it) and
    `<size> <snapshot>/<file>` lines. Only that snapshot counts, so an older download is never
    added twice; without a ref, only a single snapshot is unambiguous. Returns (bytes, snapshot).
    """
    ref = None
    sizes: dict[str, int] = {}
    for line in listing.splitlines():
        head, _, rest = line.strip().partition(" ")
        if head == "ref" and rest:
            ref = rest.strip()
        elif head.isdigit() and rest.endswith(".safetensors"):
            snapshot = rest.split("/", 1)[0] if "/" in rest else "."
            sizes[snapshot] = sizes.get(snapshot, 0) + int(head)
    if ref in sizes:
        return sizes[ref], ref
    if len(sizes) == 1:
        ((snapshot, total),) = sizes.items()
        return total, snapshot
    return None
