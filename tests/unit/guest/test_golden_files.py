"""Every rendered artifact equals its golden file byte for byte (and mode), and no golden file is stale:
a template or renderer change shows as a failing test and a diff to review
(`python -m tests.golden.regenerate`)."""

from __future__ import annotations

from tests.golden import GOLDEN, golden_path, rendered_files, shipped_vm


def test_each_rendered_file_is_its_golden_copy():
    for made in rendered_files(shipped_vm()):
        path = golden_path(made.path)
        assert path.is_file(), f"no golden file for {made.path}: run python -m tests.golden.regenerate"
        assert made.content.encode() == path.read_bytes(), f"{made.path} differs from {path}"
        assert (path.stat().st_mode & 0o777) == int(made.mode, 8), f"{made.path}: mode {made.mode}"


def test_no_golden_file_is_left_over():
    made = {golden_path(m.path) for m in rendered_files(shipped_vm())}
    assert {p for p in GOLDEN.rglob("*") if p.is_file()} == made


def test_the_vllm_unit_shares_the_card_as_the_catalog_says():
    """Read from the golden file (what was reviewed), not from the renderer."""
    unit = golden_path("/etc/systemd/system/vllm.service").read_text()
    assert "--gpu-memory-utilization 0.5 --max-model-len 8192" in unit
    assert "User=vllm" in unit and "--host 127.0.0.1 --port 8000" in unit
