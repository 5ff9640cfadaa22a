"""Markdown headings, their anchors as GitHub makes them, and the relative links between the project's
documents: pure functions, so the link test and the reference test read the docs the same way."""

from __future__ import annotations

import re
from pathlib import Path

LINK = re.compile(r"\]\((?!https?://|mailto:)([^)\s]*)\)")
HEADING = re.compile(r"^#{1,6} (.+?)\s*$")
FENCE = re.compile(r"^(```|~~~)")


def headings(text: str) -> list[str]:
    """The headings' texts, code blocks left out."""
    found, in_code = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            in_code = not in_code
        elif not in_code and (match := HEADING.match(line)):
            found.append(match.group(1))
    return found


def anchor(heading: str) -> str:
    """GitHub's anchor: lower case, markdown marks and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*|\[|\]\([^)]*\)", "", heading).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for heading in headings(text):
        base = anchor(heading)
        count = seen.get(base, 0)
        out.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return out


def links(text: str) -> list[str]:
    """Relative link targets outside code blocks."""
    found, in_code = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            in_code = not in_code
        elif not in_code:
            found += LINK.findall(line)
    return found


def broken_links(doc: Path, root: Path) -> list[str]:
    """Each link of DOC whose file or anchor does not exist."""
    problems = []
    for target in links(doc.read_text()):
        path, _, fragment = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            problems.append(f"{doc.relative_to(root)}: {target}: no file {path}")
        elif fragment and file.suffix == ".md" and fragment not in anchors(file.read_text()):
            problems.append(f"{doc.relative_to(root)}: {target}: no heading #{fragment} in {file.name}")
    return problems
