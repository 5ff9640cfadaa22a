"""Fixtures for the bench tests: a stand-in engine server on 127.0.0.1 (port 0) and a catalog."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.unit.bench.standin import Script, StandIn


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with StandIn(Script()) as server:
        yield server


def write_bench_catalog(folder: Path) -> Path:
    """The shipped catalog with one Ollama model to bench."""
    text = (ROOT / "catalog.yml").read_text()
    text, found = re.subn(r"models: \[[^\]]*\]", "models: [llama3.1:8b]", text, count=1)
    assert found == 1
    path = folder / "catalog.yml"
    path.write_text(text)
    return path


@pytest.fixture
def bench_catalog(tmp_path: Path) -> Path:
    return write_bench_catalog(tmp_path)
