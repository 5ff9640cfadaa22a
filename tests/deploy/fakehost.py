"""Run a @deploy through pyinfra's @fake connector and report which operations ran and changed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.api.deploy import add_deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.api.operations import run_ops


@dataclass
class FakeRun:
    ops: list[tuple[str, bool]]  # (operation name, changed) for every operation planned, in order
    failed: bool
    executed: list[str]  # every command the fake host was sent, facts included
    error: str = ""

    @property
    def changed(self) -> list[str]:
        return [name for name, did in self.ops if did]

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.ops]


def run_fake(deploys: list[Callable[[], None]], responses: dict, **data) -> FakeRun:
    """Plan and run DEPLOYS on one fake host whose commands answer from RESPONSES."""
    host_data = {"fake_responses": responses, "fake_delay": 0, "fake_delay_jitter": 0, **data}
    inventory = Inventory(([("@fake/vm", host_data)], {}))
    state = State(inventory, Config())
    connect_all(state)
    host = inventory.get_host("@fake/vm")
    for func in deploys:
        add_deploy(state, func)
    error = ""
    try:
        run_ops(state)
    except PyinfraError as exc:
        error = str(exc)
    ops = []
    for op_hash in state.get_op_order():
        if op_hash not in state.ops[host]:
            continue
        name = sorted(state.get_op_meta(op_hash).names)[0]
        meta = state.ops[host][op_hash].operation_meta
        ops.append((name, bool(meta.is_complete() and meta.did_change())))
    failed = state.results[host].error_ops > 0 or host in state.failed_hosts
    return FakeRun(ops, failed, list(host.connector.executed_commands), error)
