"""Fixtures for the bench tests: a stand-in engine server on 127.0.0.1 (port 0) and a catalog."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.catalog import build_catalog
from tests.unit.bench.standin import Script, StandIn


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with StandIn(Script()) as server:
        yield server


def write_bench_catalog(folder: Path) -> Path:
    """The shipped catalog with one Ollama model to bench."""
    return build_catalog(folder, vm={"services.ollama.models": ["llama3.1:8b"]})


@pytest.fixture
def bench_catalog(tmp_path: Path) -> Path:
    return write_bench_catalog(tmp_path)
