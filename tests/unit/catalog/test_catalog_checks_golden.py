"""Every catalog field's check accepts, refuses and hints exactly as the reviewed golden file says
(tests/golden/catalog_cases.py; `python -m tests.golden.regenerate` rewrites it)."""

from __future__ import annotations

from tests.golden import CHECKS
from tests.golden.catalog_cases import render


def test_the_checks_are_the_reviewed_ones():
    assert render() == CHECKS.read_text(), \
        "a catalog check changed: review `python -m tests.golden.regenerate; git diff`"
