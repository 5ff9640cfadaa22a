"""Every rendered artifact equals its golden file byte for byte (and mode), and no golden file is stale:
a template or renderer change shows as a failing test and a diff to review
(`python -m tests.golden.regenerate`)."""

from __future__ import annotations

import json

from aimachine.catalog.schema import parse_catalog
from tests.conftest import ROOT
from tests.golden import (
    EXTRA_ARGS,
    EXTRA_ARGS_UNIT,
    GOLDEN,
    MODES,
    extra_args_unit,
    golden_modes,
    golden_path,
    render_modes,
    rendered_files,
    shipped_vm,
)


def test_each_rendered_file_is_its_golden_copy():
    """Contents byte for byte; modes from tests/golden/modes.txt, never from the checkout's files (a clone
    made under umask 002 has other modes)."""
    modes = golden_modes()
    for made in rendered_files(shipped_vm()):
        path = golden_path(made.path)
        assert path.is_file(), f"no golden file for {made.path}: run python -m tests.golden.regenerate"
        assert made.content.encode() == path.read_bytes(), f"{made.path} differs from {path}"
        assert modes.get(made.path) == made.mode, f"{made.path}: {made.mode}, not {modes.get(made.path)}"
    assert render_modes(rendered_files(shipped_vm())) == MODES.read_text()


def test_no_golden_file_is_left_over():
    made = {golden_path(m.path) for m in rendered_files(shipped_vm())}
    assert {p for p in GOLDEN.rglob("*") if p.is_file()} == made


def test_the_vllm_unit_shares_the_card_as_the_catalog_says():
    """Read from the golden file (what was reviewed), not from the renderer."""
    unit = golden_path("/etc/systemd/system/vllm.service").read_text()
    assert "--gpu-memory-utilization 0.5 --max-model-len 8192" in unit
    assert "User=vllm" in unit and "--host 127.0.0.1 --port 8000" in unit


def test_known_extra_flags_reach_execstart_quoted_for_systemd():
    """A catalog with services.vllm.extra_args passes validation and its flags end ExecStart; a JSON value
    is one double-quoted word with its quotes escaped (systemd.service: Command lines)."""
    text = (ROOT / "catalog.yml").read_text().replace(
        "max_model_len: 8192", "max_model_len: 8192\n        extra_args: " + json.dumps(EXTRA_ARGS))
    assert parse_catalog(text).vms[0].services.vllm.extra_args == EXTRA_ARGS
    assert extra_args_unit().content == EXTRA_ARGS_UNIT.read_text()
    start = next(ln for ln in EXTRA_ARGS_UNIT.read_text().splitlines() if ln.startswith("ExecStart="))
    assert start.endswith(' --max-model-len 8192 --attention-backend TRITON_ATTN --enforce-eager '
                          '--max-num-seqs 16 --compilation-config "{\\"cudagraph_mode\\": \\"PIECEWISE\\"}"')


def test_the_vllm_unit_serves_the_catalogs_model_id():
    """With HF_HUB_OFFLINE=1, vLLM may name the model by its snapshot path: clients need the catalog's id."""
    unit = golden_path("/etc/systemd/system/vllm.service").read_text()
    assert "serve Qwen/Qwen2.5-7B-Instruct-AWQ --served-model-name Qwen/Qwen2.5-7B-Instruct-AWQ " in unit
