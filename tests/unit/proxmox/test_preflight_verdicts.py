"""Every branch of preflight's rules, on host facts changed one thing at a time, prints exactly what
the reviewed golden file says: each verdict, message and remedy an admin reads
(tests/golden/preflight_scenarios.py; `python -m tests.golden.regenerate` rewrites the file)."""

from __future__ import annotations

from tests.conftest import ROOT
from tests.golden import VERDICTS
from tests.golden.preflight_scenarios import SCENARIOS, render


def test_the_verdicts_are_the_reviewed_ones():
    assert render(str(ROOT / "catalog.yml")) == VERDICTS.read_text(), \
        "preflight's verdicts changed: review `python -m tests.golden.regenerate; git diff`"


# the scenarios that must give another scenario's verdicts: what does not hold the GPU, an alternative
# privilege, two ways of saying IOMMU is off
SAME_AS_HEALTHY = {
    "privileges: Sys.Modify stands in for Sys.Audit": "healthy (a stopped VM shares the GPU)",
    "a running VM on another node holds the address": "healthy, nothing else passes the GPU through",
    "a running VM passes another device": "healthy, nothing else passes the GPU through",
    "a device without an IOMMU group entry": "IOMMU off",  # PVE lists -1 then; a missing entry reads so
}


def test_each_scenario_changes_the_verdicts_unless_it_must_not():
    bodies = {}
    for section in VERDICTS.read_text().split("## ")[1:]:
        head, _, body = section.partition("\n")
        bodies[head.rsplit(" (", 1)[0]] = body
    kind = {name: SAME_AS_HEALTHY.get(name, name) for name in SCENARIOS}
    for a in SCENARIOS:
        for b in SCENARIOS:
            if a < b:
                assert (bodies[a] == bodies[b]) == (kind[a] == kind[b]), f"{a!r} vs {b!r}"
