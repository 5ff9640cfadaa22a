"""What a Terraform plan would do, read from `terraform show -json PLANFILE` (pure).

The plan JSON format: resource_changes[].{address, change.actions, change.replace_paths}
(https://developer.hashicorp.com/terraform/internals/json-format); OpenTofu writes the same."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Change:
    address: str
    actions: tuple[str, ...]  # ("create",), ("update",), ("delete",), ("delete", "create"), ...
    replace_paths: tuple[str, ...]  # the attributes that force a replacement, e.g. disk[0].import_from

    @property
    def removes(self) -> bool:
        """A delete, on its own or as half of a replacement."""
        return "delete" in self.actions

    def verb(self) -> str:
        return "replace" if self.removes and "create" in self.actions else \
            "destroy" if self.removes else "/".join(self.actions)


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def removing(self, address: str) -> Change | None:
        """The change that would delete or replace `address` (a resource, with or without an index)."""
        return next((c for c in self.changes if c.removes and
                     (c.address == address or c.address.startswith(address + "["))), None)


def _path(steps: list[Any]) -> str:
    out = ""
    for step in steps:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


def read_plan(plan_json: dict[str, Any]) -> Plan:
    """The plan's real changes (no-ops and reads left out)."""
    changes = []
    for rc in plan_json.get("resource_changes") or []:
        actions = tuple((rc.get("change") or {}).get("actions") or ())
        if actions in ((), ("no-op",), ("read",)):
            continue
        paths = tuple(_path(p) for p in (rc.get("change") or {}).get("replace_paths") or [])
        changes.append(Change(rc.get("address", "?"), actions, paths))
    return Plan(tuple(changes))
