"""Fixtures of the acceptance tests: the world of one scenario, and the test host standing in for the VM."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aimachine.rehearsal import guest as nspawn
from tests.bdd.world import World
from tests.harness.fixtures import (
    booted_test_host,
    standin_payloads,  # noqa: F401 (the local payload mirror)
)


@pytest.fixture(scope="module")
def bdd_host(tmp_path_factory: pytest.TempPathFactory, standin_payloads: Path) -> Iterator[nspawn.NspawnHost]:  # noqa: F811
    """The VM of the sim backend: a real systemd host in its own network namespace, booted once for the
    acceptance tests (pristine: an ephemeral copy), always stopped afterwards."""
    with booted_test_host(tmp_path_factory.mktemp("bdd-host"), standin_payloads,
                          "the test host standing in for the VM", net=nspawn.ACCEPTANCE_NET,
                          hostname="vm-llm-aimachine") as host:
        yield host


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)
