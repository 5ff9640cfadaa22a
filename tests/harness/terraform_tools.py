"""The real Terraform (or OpenTofu) and bpg/proxmox provider for tests, as tools/build.sh left them
(found by aimachine/rehearsal/tools.py). Where they are missing a test skips naming `make tools`, except
in CI, which builds them first: there it fails."""

from __future__ import annotations

import os

import pytest

from aimachine.rehearsal.tools import Tools, find_tools, scratch_module, tools_dir

__all__ = ["Tools", "require_tools", "scratch_module", "tools_dir"]


def require_tools() -> Tools:
    """The tools, or skip (fail in CI) saying how to build them."""
    tools, why = find_tools()
    if tools is not None:
        return tools
    message = f"the real Terraform and bpg/proxmox provider are not built ({why}): run `make tools`"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (.ci/run builds them before the tests)")
    pytest.skip(reason=message)
