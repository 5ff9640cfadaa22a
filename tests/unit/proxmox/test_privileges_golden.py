"""The privileges a deploy needs, and how a token's permissions are read, are exactly what the reviewed
golden file says (tests/golden/privilege_cases.py; `python -m tests.golden.regenerate` rewrites it)."""

from __future__ import annotations

from tests.golden import PRIVILEGES
from tests.golden.privilege_cases import render


def test_the_privileges_are_the_reviewed_ones():
    assert render() == PRIVILEGES.read_text(), \
        "the privileges changed: review `python -m tests.golden.regenerate; git diff`"
