"""The driver choice and the package-name helpers give exactly what the reviewed golden file says
(tests/golden/driver_cases.py; `python -m tests.golden.regenerate` rewrites it)."""

from __future__ import annotations

from tests.golden import DRIVERS
from tests.golden.driver_cases import render


def test_the_driver_choices_are_the_reviewed_ones():
    assert render() == DRIVERS.read_text(), \
        "the driver choice changed: review `python -m tests.golden.regenerate; git diff`"
