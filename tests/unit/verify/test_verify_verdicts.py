"""Every verify check's judge, on the healthy VM's real outputs and on the broken ones an admin may meet,
says exactly what the reviewed golden file says (tests/golden/verify_cases.py;
`python -m tests.golden.regenerate` rewrites it)."""

from __future__ import annotations

from tests.golden import JUDGEMENTS
from tests.golden.verify_cases import render


def test_the_verdicts_are_the_reviewed_ones():
    assert render() == JUDGEMENTS.read_text(), \
        "verify's verdicts changed: review `python -m tests.golden.regenerate; git diff`"


def test_every_check_passes_on_the_healthy_vm_and_fails_when_its_command_fails():
    lines = JUDGEMENTS.read_text().splitlines()
    assert all(" ok   " in ln for ln in lines if " / healthy: " in ln)
    assert all(": FAIL " in ln for ln in lines if " / command failed: " in ln)
