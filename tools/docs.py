"""`make docs`: write the catalog field tables (aimachine/catalog/docs.py) into docs/catalog.md and
docs/configuration.md, between their markers. A test fails when the committed tables differ."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aimachine.catalog.docs import TABLES, table, with_table

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    for marker, (name, select) in TABLES.items():
        path = ROOT / name
        text = path.read_text()
        new = with_table(text, marker, table(select))
        if new != text:
            path.write_text(new)
            print(f"{name}: {marker} table written")
        else:
            print(f"{name}: {marker} table up to date")


if __name__ == "__main__":
    main()
