"""pytest fixtures around the nspawn test host, for the integration and acceptance tests.

Use them from a conftest.py: `from tests.harness.fixtures import nspawn_host, standin_payloads`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from aimachine.catalog.schema import load_catalog
from aimachine.rehearsal import guest as nspawn
from aimachine.rehearsal.archive_cache import REFILL
from aimachine.rehearsal.payloads import MIRROR_IN_GUEST, MIRROR_PORT, build_mirror, build_ollama_release

PAYLOADS_IN_HOST = MIRROR_IN_GUEST  # where the test host sees the local mirror (read-only)
# Ollama 0.13.5 is published as a .tgz (the rehearsal, on the catalog's default 0.32.15, takes .tar.zst)
VLLM_VERSION, OLLAMA_VERSION = "0.32.0", "0.13.5"
SHIPPED = Path(__file__).resolve().parents[2] / "catalog.yml"
SHIPPED_OLLAMA = load_catalog(SHIPPED).vms[0].services.ollama.version


@pytest.fixture(scope="session")
def standin_payloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local mirror: a package index with the stand-in vllm wheel and an Ollama release directory."""
    root = build_mirror(tmp_path_factory.mktemp("payloads"), VLLM_VERSION, OLLAMA_VERSION)
    build_ollama_release(root / "ollama", SHIPPED_OLLAMA)  # the scenarios deploy the shipped catalog's
    return root


def require_test_host(what: str) -> None:
    """Skip where the harness cannot run (not root, tools missing), but never in CI, which installs
    everything the harness needs: there a missing piece is a failure, not a quiet green run."""
    reason = nspawn.unavailable_reason()
    if reason and os.environ.get("CI") == "true":
        pytest.fail(f"{what} must run in CI, but: {reason}")
    if reason:
        pytest.skip(f"{what} unavailable: {reason}")


@contextlib.contextmanager
def booted_test_host(work: Path, payloads: Path, what: str, net: nspawn.Net = nspawn.TEST_NET,
              hostname: str = "vm-llm-test", hub: bool = True, binds: dict[str, str] | None = None,
              ) -> Iterator[nspawn.NspawnHost]:
    """A booted Ubuntu 24.04 test host on NET with the payload mirror bound in (and, with HUB, served
    as the Hub for the model) and BINDS (host path: path inside, read-only), admitted by the network
    guard; always stopped. Everything its apt asked for must have come from the archive cache."""
    require_test_host(what)
    before = os.environ.get("AIMACHINE_TEST_HOSTS", "")
    os.environ["AIMACHINE_TEST_HOSTS"] = ",".join(h for h in (before, net.target_ip) if h)
    try:
        with nspawn.booted(work, binds={str(payloads): PAYLOADS_IN_HOST, **(binds or {})}, net=net,
                           hostname=hostname) as host:
            if hub:
                # the Hub (HF_ENDPOINT) for the model: hub_mirror.py answers as huggingface_hub 2.4's
                # client reads the Hub (its source: get_hf_file_metadata, list_repo_tree), checked by
                # that client in tests/integration/test_model_fetch.py
                nspawn.serve_mirror(host, PAYLOADS_IN_HOST, MIRROR_PORT)
            yield host
            assert not host.archive_misses, (
                f"the test host asked for files not in the archive cache: {host.archive_misses[:5]}; "
                f"run {REFILL}")
    finally:
        os.environ["AIMACHINE_TEST_HOSTS"] = before


@pytest.fixture(scope="session")
def nspawn_host(
    tmp_path_factory: pytest.TempPathFactory, standin_payloads: Path
) -> Iterator[nspawn.NspawnHost]:
    """One booted Ubuntu 24.04 systemd host per session, in its own network namespace; always stopped."""
    work = tmp_path_factory.mktemp("nspawn")
    with booted_test_host(work, standin_payloads, "the nspawn test host") as host:
        yield host
