"""docs/TROUBLESHOOTING.md covers the problems admins meet, each with symptom, cause and fix, and
quotes Terraform's own messages as aimachine/terraform/main.tf words them."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT

GUIDE = (ROOT / "docs" / "TROUBLESHOOTING.md").read_text()
SECTIONS = dict(re.findall(r"^### ([^\n]+)\n(.*?)(?=^##|\Z)", GUIDE, flags=re.M | re.S))

REQUIRED = {  # topic -> words its heading must contain
    "IOMMU off": "IOMMU off", "GPU not bound to vfio": "not bound to vfio", "device busy": "Device busy",
    "mapping": "only root can set 'hostpci0'", "RTX 50 reset": "does not come back",
    "BIOS": "Above 4G decoding and Resizable BAR", "Secure Boot": "Secure Boot",
    "no kernel image": "no kernel image is available", "free VRAM": "not enough free VRAM",
    "Ollama on CPU": "Ollama runs on the CPU", "apt lock": "apt lock",
    "cloud-init": "cloud-init not finished",
}


@pytest.mark.parametrize("topic", sorted(REQUIRED))
def test_each_problem_has_symptom_cause_and_fix(topic: str):
    heading = next((h for h in SECTIONS if REQUIRED[topic] in h), None)
    assert heading, f"no section for {topic!r}"
    body = SECTIONS[heading]
    for part in ("**You see**", "**Why**", "**Fix**"):
        assert part in body, f"{heading}: {part} missing"


def test_upstream_issues_from_the_facts_are_cited():
    for ref in ("#495", "#853", "#862", "#13306", "#20305", "#21633", "#7323"):
        assert ref in GUIDE, ref


def test_terraform_messages_are_quoted_as_terraform_prints_them():
    main = (ROOT / "aimachine" / "terraform" / "main.tf").read_text()
    for words in ("IOMMU is off on node", "No PCI device", "holds another VM's state; run: terraform",
                  "No VM named", "the catalog has:"):
        assert words in main and words in GUIDE, words


def test_readme_links_the_guide():
    assert "(docs/TROUBLESHOOTING.md)" in (ROOT / "README.md").read_text()
