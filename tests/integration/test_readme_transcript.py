"""The README's transcript is what the tool prints: the command it shows is run, and every line of the
block must be in its output (durations aside, which differ from run to run)."""

from __future__ import annotations

import re

from tests.conftest import ROOT, run_aimachine
from tests.harness.terraform_tools import require_tools

DURATION = re.compile(r"\d+(\.\d+)? s\b")


def _console_blocks(text: str) -> list[list[str]]:
    blocks = re.findall(r"```console\n(.*?)```", text, flags=re.S)
    return [block.splitlines() for block in blocks]


def test_the_readme_transcript_is_what_rehearse_prints(tmp_path):
    (block,) = _console_blocks((ROOT / "README.md").read_text())
    command, shown = block[0], [line for line in block[1:] if line.strip()]
    assert command == "$ aimachine rehearse vm-llm-aimachine --no-guest"
    result = run_aimachine(*command.split()[2:], "--catalog", str(ROOT / "catalog.yml"),
                           env={"TMPDIR": str(tmp_path), **require_tools().env()}, timeout=300)
    assert result.returncode == 0, result.stderr
    printed = {DURATION.sub("N s", line) for line in result.stdout.splitlines()}
    missing = [line for line in shown if DURATION.sub("N s", line) not in printed]
    assert missing == [], result.stdout
