"""--plot: decode tokens/s (all streams) against concurrency per engine, with each engine's roofline.

matplotlib is imported here only, and only when a plot is asked for (Agg: no display needed).
"""

from __future__ import annotations

from typing import Any

from aimachine.errors import PhaseError

COLOURS = {"vllm": "tab:blue", "ollama": "tab:orange"}
STYLES = {"short": "-o", "long": "--s"}


def build_figure(report: dict[str, Any]) -> Any:
    try:
        import matplotlib
    except ImportError:
        raise PhaseError("bench", "--plot needs matplotlib, which is not installed: run `make setup` "
                                  "or `pip install 'aimachine[bench]'`") from None

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5))
    ax = fig.add_subplot()
    for eng in report["engines"]:
        colour = COLOURS.get(eng["engine"])
        for prompt, style in STYLES.items():
            points = [(r["concurrency"], r["total_decode_tps"]) for r in eng["results"]
                      if r["prompt"] == prompt and r["total_decode_tps"] is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, style, color=colour, label=f"{eng['engine']} {prompt} prompt")
        if eng["roofline_tps"]:
            ax.axhline(eng["roofline_tps"], color=colour, linestyle=":",
                       label=f"{eng['engine']} roofline {eng['roofline_tps']:.0f} tok/s (1 stream)")
    gpu = report["gpu"]["name"] or "GPU"
    ax.set_title(f"{report['vm']}: {gpu}, {report['memory_bandwidth_gbps']:g} GB/s")
    ax.set_xlabel("concurrent requests")
    ax.set_ylabel("decode tokens/s, all streams")
    ax.set_xscale("log", base=2)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def save_png(report: dict[str, Any], path: str) -> None:
    build_figure(report).savefig(path, format="png", dpi=100)
