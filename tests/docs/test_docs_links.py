"""The documents hold together: every relative link and anchor resolves, every "README: X" or "docs: X" the
tool prints names a heading that exists, and README.md stays a first screen (at most about 200 lines)
whose transcript is what the tool prints."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ROOT
from tests.docs.markdown_links import broken_links, headings

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# how the tool points an admin at the docs, in a message or a remedy
REFERENCE = re.compile(r"\((?:see )?(README|docs): ([^)\"']+)\)")


def test_every_link_and_anchor_resolves():
    assert [p for doc in DOCS for p in broken_links(doc, ROOT)] == []


def _sources() -> list[Path]:
    tools = sorted((ROOT / "tools").glob("*"))
    return [*sorted((ROOT / "aimachine").rglob("*.py")), ROOT / "Makefile", *tools]


def test_every_reference_the_tool_prints_names_a_heading():
    """A remedy said "README: Proxmox API token", a section that did not exist."""
    known = {h for doc in DOCS for h in headings(doc.read_text())}
    found = [(path, m.group(2).strip()) for path in _sources() if path.is_file()
             for m in REFERENCE.finditer(path.read_text())]
    assert len(found) >= 3, "the references are found at all"
    assert [f"{p.relative_to(ROOT)}: {ref!r}" for p, ref in found if ref not in known] == []


def test_the_readme_is_a_first_screen():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    sections = headings(text)
    assert sections[:5] == ["aimachine", "What it assumes", "Try it without hardware", "Set up", "Deploy"]
    assert "make deploy-vm-llm-aimachine" in text and "make setup tools" in text


def test_the_readme_counts_the_privileges_the_code_asks():
    """It said 19 where the code and its golden file say 17."""
    from aimachine.catalog.schema import load_catalog
    from aimachine.proxmox import privileges

    cat = load_catalog(ROOT / "catalog.yml")
    count = len(privileges.names(privileges.needed(cat, cat.vms[0], 8, True)))
    for doc in DOCS:
        for claimed in re.findall(r"holds the (\d+) privileges a deploy needs", doc.read_text()):
            assert int(claimed) == count, doc.name
