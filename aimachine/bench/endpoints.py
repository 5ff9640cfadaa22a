"""Where each engine answers: a URL the admin gave, or an SSH tunnel to the service's bind inside
the VM (services stay on 127.0.0.1 there)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from aimachine.catalog.schema import Vm, split_bind
from aimachine.errors import PhaseError
from aimachine.reach.address import vm_target
from aimachine.reach.ssh import SshTarget, tunnel


@dataclass(frozen=True)
class Endpoints:
    urls: dict[str, str]
    ssh: SshTarget | None  # None: pointed at URLs only, nothing is read over SSH


@contextlib.contextmanager
def open_endpoints(vm: Vm, engines: list[str], given: dict[str, str | None]) -> Iterator[Endpoints]:
    """URLs for `engines`: the given ones as they are, the others through tunnels held open here."""
    missing = [e for e in engines if not given.get(e)]
    if not missing:
        yield Endpoints({e: str(given[e]).rstrip("/") for e in engines}, None)
        return
    target = vm_target(vm, phase="bench", remedy=f"deploy {vm.name} first, or pass --vllm-url/--ollama-url")
    with contextlib.ExitStack() as stack:
        urls = {e: str(given[e]).rstrip("/") for e in engines if given.get(e)}
        for engine in missing:
            host, port = split_bind(getattr(vm.services, engine).bind)
            try:
                local = stack.enter_context(tunnel(target, host, port))
            except ConnectionError as exc:
                raise PhaseError("bench", f"{exc}: check that {vm.name} runs and answers `ssh "
                                          f"{target.login}` with the catalog's key, or pass "
                                          f"--{engine}-url") from None
            urls[engine] = f"http://127.0.0.1:{local}"
        yield Endpoints(urls, target)
