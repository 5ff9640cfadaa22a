"""Files that ship inside the package (templates, the Terraform module, the tool build script), found
through importlib.resources, so an installed wheel works from any directory, not only a checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def packaged(*parts: str) -> Path:
    """The path of a file or folder shipped in the aimachine package (installed as plain files)."""
    return Path(str(resources.files("aimachine").joinpath(*parts)))
