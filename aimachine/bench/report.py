"""The report as data (the JSON), as a table for people, and NFR-6 judged plainly."""

from __future__ import annotations

import dataclasses
from typing import Any

from aimachine.bench.measure import LevelResult

NFR6_TTFT_LIMIT_S = 1.0  # NFR-6 "sub-second token generation": first token at concurrency 1 under 1 s


def at(results: list[LevelResult], prompt: str, concurrency: int) -> LevelResult | None:
    return next((r for r in results if r.prompt == prompt and r.concurrency == concurrency), None)


def judge_nfr6(results: list[LevelResult]) -> dict[str, Any]:
    """Pass when every prompt's median TTFT at concurrency 1 is under the limit."""
    ttfts = {r.prompt: r.ttft_s for r in results if r.concurrency == 1}
    known = [t for t in ttfts.values() if t is not None]
    worst = max(known) if known else None
    return {"limit_s": NFR6_TTFT_LIMIT_S, "ttft_s": ttfts, "worst_ttft_s": worst,
            "pass": worst is not None and len(known) == len(ttfts) and worst < NFR6_TTFT_LIMIT_S}


def level_dict(result: LevelResult) -> dict[str, Any]:
    return dataclasses.asdict(result)


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def table(report: dict[str, Any]) -> str:
    """Plain text for people: one row per engine, prompt and concurrency; then the verdicts."""
    head = ("engine", "prompt", "conc", "TTFT s", "decode tok/s", "all streams", "prompt tok/s")
    rows = [head]
    for eng in report["engines"]:
        for r in eng["results"]:
            rows.append((eng["engine"], r["prompt"], str(r["concurrency"]), _num(r["ttft_s"], ".3f"),
                         _num(r["decode_tps"], ".1f"), _num(r["total_decode_tps"], ".1f"),
                         _num(r["prompt_tps"], ".0f")))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(_cell(i, c, w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    gpu = report["gpu"]
    lines += ["", f"GPU: {gpu['name']} (driver {gpu['driver']})" if gpu["name"]
              else f"GPU: unknown ({gpu['reason']})",
              f"memory bandwidth (catalog): {report['memory_bandwidth_gbps']:g} GB/s"]
    for eng in report["engines"]:
        lines.append("")
        lines.append(f"{eng['engine']} {eng['version'] or '(version unknown)'}: model {eng['model']}")
        if eng.get("via") == "gateway":
            litellm = eng.get("gateway_version") or "?"
            lines.append(f"  through the gateway at {eng['url']} (LiteLLM {litellm}; timed on this machine's "
                         "clock)")
        w = eng["weights"]
        if w["bytes"]:
            lines.append(f"  weights: {w['bytes'] / 1e9:.2f} GB ({w['source']})")
            lines.append(f"  roofline: {eng['roofline_tps']:.1f} tok/s = bandwidth / weight bytes; "
                         f"decode at concurrency 1 reaches {_pct(eng['roofline_fraction'])} of it")
        else:
            lines.append(f"  roofline: unknown ({w['source']})")
        if eng.get("gpu_share") is not None:
            lines.append(f"  model in GPU memory: {eng['gpu_share'] * 100:.0f} % (/api/ps)")
        if eng.get("note"):
            lines.append(f"  note: {eng['note']}")
        nfr = eng["nfr6"]
        verdict = "PASS" if nfr["pass"] else "FAIL"
        lines.append(f"  NFR-6 (TTFT at concurrency 1 under {nfr['limit_s']:g} s): {verdict}, "
                     f"worst median TTFT {_num(nfr['worst_ttft_s'], '.3f')} s")
    return "\n".join(lines)


def _cell(column: int, text: str, width: int) -> str:
    return text.ljust(width) if column < 2 else text.rjust(width)  # names left, numbers right


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f} %"
