"""The catalog's field tables in docs/catalog.md and docs/configuration.md are the schema's own docs: a field
added, renamed, re-defaulted or re-documented in aimachine/catalog/schema.py and not regenerated
(`make docs`) fails here."""

from __future__ import annotations

import dataclasses

import pytest

from aimachine.catalog import schema
from aimachine.catalog.docs import TABLES, fields, table, with_table
from tests.conftest import ROOT

pytestmark = pytest.mark.lint


@pytest.mark.parametrize("marker", sorted(TABLES))
def test_the_committed_table_is_the_generated_one(marker):
    name, select = TABLES[marker]
    text = (ROOT / name).read_text()
    assert with_table(text, marker, table(select)) == text, f"{name} is stale: run `make docs`"


def test_every_field_is_documented_once():
    docs = list(fields())
    assert [d.path for d in docs if not d.doc] == []
    assert len({d.path for d in docs}) == len(docs)
    assert sum(select(d) for d in docs for _, select in TABLES.values()) == len(docs), \
        "each field is in exactly one table"


def test_a_changed_default_shows_as_drift(monkeypatch):
    vllm = {f.name: f for f in dataclasses.fields(schema.Vllm)}
    monkeypatch.setattr(vllm["gpu_memory_utilization"], "default", 0.9)
    marker = "service-fields"
    _, select = TABLES[marker]
    text = (ROOT / "docs/configuration.md").read_text()
    assert with_table(text, marker, table(select)) != text
