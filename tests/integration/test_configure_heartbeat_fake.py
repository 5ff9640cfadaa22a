"""The configure heartbeat end to end: pyinfra's @fake connector with each command taking 0.3 s, so an
operation is silent longer than the 0.1 s interval (more load only makes the silence longer)."""

from __future__ import annotations

from aimachine.configure.launcher import configure
from tests.conftest import ROOT


def test_configure_shows_the_heartbeat_of_a_slow_operation(tmp_path):
    """End to end through pyinfra's @fake connector, each command taking 0.3 s."""
    shown: list[str] = []
    env = {"AIMACHINE_SSH_HOST": "@fake/vm", "PYINFRA_FAKE_DELAY": "0.3", "PYINFRA_FAKE_DELAY_JITTER": "0",
           "AIMACHINE_STATE_DIR": str(tmp_path)}
    outcome = configure(str(ROOT / "catalog.yml"), "vm-llm-aimachine", steps="monitoring", echo=shown.append,
                        env=env, heartbeat_s=0.1)
    assert outcome.changed == 6
    assert [line for line in shown if line.startswith("  ... still running: monitoring | ")], shown
