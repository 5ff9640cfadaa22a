"""docs/ACCEPTANCE.md and docs/DECISIONS.md stay true: every id has a row, every reference exists."""

from __future__ import annotations

import re
import subprocess
import sys
from functools import cache

import pytest

from aimachine.catalog.schema import Catalog, load_catalog
from aimachine.cli.main import cli
from aimachine.verify import checks as verify
from tests.conftest import ROOT
from tests.docs.doc_references import acceptance_problems, decisions_problems, spec_ids

pytestmark = pytest.mark.lint

ACCEPTANCE = (ROOT / "docs" / "ACCEPTANCE.md").read_text()
DECISIONS = (ROOT / "docs" / "DECISIONS.md").read_text()
REQUIREMENTS = ROOT.parent / "shared" / "REQUIREMENTS.md"
SPEC_IDS = ROOT / "tests" / "fixtures" / "requirements-ids.txt"
FEATURES = ROOT / "tests" / "bdd" / "features"


@cache
def collected_tests() -> frozenset[str]:
    """Every test id pytest collects (parameters dropped), as pytest itself names them."""
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                             "tests"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return frozenset(line.split("[", 1)[0] for line in result.stdout.splitlines() if "::" in line)


def check_names() -> set[str]:
    vm = load_catalog(ROOT / "catalog.yml").vms[0]
    return {c.name for c in verify.checks_for(vm, "192.0.2.1")}


def make_targets() -> set[str]:
    return set(re.findall(r"^([a-zA-Z0-9_-]+):", (ROOT / "Makefile").read_text(), flags=re.M))


def spec() -> set[str]:
    """The specification's ids, from the copy in tests/fixtures (a clone has no ../shared)."""
    lines = SPEC_IDS.read_text().splitlines()
    return {line for line in lines if line and not line.startswith("#")}


def test_the_copied_ids_are_the_specifications():
    if not REQUIREMENTS.exists():
        pytest.skip(f"the specification's source is not beside this checkout ({REQUIREMENTS}); "
                    "the copy in tests/fixtures is checked against it where it is")
    assert spec() == spec_ids(REQUIREMENTS.read_text()), "refresh tests/fixtures/requirements-ids.txt"


def problems(doc: str) -> list[str]:
    commands = set(cli.list_commands(None))
    return acceptance_problems(doc, spec(), set(collected_tests()), check_names(), commands, make_targets())


def test_every_spec_id_has_a_row():
    ids = spec()
    assert len(ids) > 100, "the specification's ids were not read"
    assert {"FR-1.7", "S-9", "AC-39", "NFR-26", "TC-8"} <= ids
    assert problems(ACCEPTANCE) == []


def test_a_renamed_test_makes_the_check_fail():
    renamed = ACCEPTANCE.replace("test_idempotent_redeployment", "test_idempotent_redeployment_renamed", 1)
    assert any("no test tests/bdd/test_acceptance.py::test_idempotent_redeployment_renamed" in p
               for p in problems(renamed))


def test_a_missing_row_an_unknown_check_and_an_unproven_ci_claim_are_found():
    doc = "\n".join(line for line in ACCEPTANCE.splitlines() if not line.startswith("| NFR-13 |"))
    doc = doc.replace("`verify:gpu-memory`", "`verify:gpu-vram`", 1)
    ac8 = next(line for line in doc.splitlines() if line.startswith("| AC-8 |"))
    cited = "`tests/unit/catalog/test_catalog.py::test_shipped_catalog_is_valid_and_complete`"
    doc = doc.replace(ac8, ac8.replace(cited, "`aimachine catalog`"))
    found = "\n".join(problems(doc))
    assert "NFR-13: no row" in found
    assert "no verify check gpu-vram" in found
    assert "(AC-8): says proven in CI but names no test" in found


def test_decisions_answer_every_open_question():
    assert decisions_problems(DECISIONS, Catalog, make_targets()) == []


def test_decisions_check_finds_an_unknown_setting():
    doc = DECISIONS.replace("`vms[].swap_gb`", "`vms[].swap_size`", 1)
    assert "OQ-10: no catalog setting vms[].swap_size" in decisions_problems(doc, Catalog, make_targets())


def test_every_scenario_has_a_feature():
    text = "\n".join(p.read_text() for p in FEATURES.glob("*.feature"))
    numbers = sorted(int(n) for n in re.findall(r"^\s*Scenario: (\d) ", text, flags=re.M))
    assert numbers == list(range(1, 10))
    for feature in FEATURES.glob("*.feature"):
        assert feature.read_text().lstrip().startswith("@acceptance"), feature.name


def test_usage_examples_exist():
    usage = (ROOT / "docs" / "USAGE.md").read_text()
    for needle in ("/v1/chat/completions", "from openai import OpenAI", "ollama run", "/api/generate"):
        assert needle in usage
    readme = (ROOT / "README.md").read_text()
    for link in ("docs/USAGE.md", "docs/ACCEPTANCE.md", "docs/DECISIONS.md", "docs/TROUBLESHOOTING.md"):
        assert link in readme, f"README does not link {link}"
