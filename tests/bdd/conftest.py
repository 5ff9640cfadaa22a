"""Fixtures of the acceptance tests: the world of one scenario, and the test host standing in for the VM."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from aimachine.rehearsal import guest as nspawn
from aimachine.rehearsal.payloads import MIRROR_PORT
from tests.bdd.world import World
from tests.harness.fixtures import (
    PAYLOADS_IN_HOST,
    require_test_host,
    standin_payloads,  # noqa: F401 (the local payload mirror)
)


@pytest.fixture(scope="module")
def bdd_host(tmp_path_factory: pytest.TempPathFactory, standin_payloads: Path) -> Iterator[nspawn.NspawnHost]:  # noqa: F811
    """The VM of the sim backend: a real systemd host in its own network namespace, booted once for the
    acceptance tests (pristine: an ephemeral copy), always stopped afterwards."""
    require_test_host("the test host standing in for the VM")
    before = os.environ.get("AIMACHINE_TEST_HOSTS", "")
    os.environ["AIMACHINE_TEST_HOSTS"] = ",".join(h for h in (before, nspawn.ACCEPTANCE_NET.target_ip) if h)
    try:
        with nspawn.booted(tmp_path_factory.mktemp("bdd-host"), binds={str(standin_payloads): PAYLOADS_IN_HOST},
                           hostname="vm-llm-aimachine", net=nspawn.ACCEPTANCE_NET) as host:
            nspawn.serve_mirror(host, PAYLOADS_IN_HOST, MIRROR_PORT)  # the Hub for the model
            yield host
    finally:
        os.environ["AIMACHINE_TEST_HOSTS"] = before


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)
