"""Do the catalog's pins fit together, by the packages' own metadata? (`make check-pins`)

Pure judges over what PyPI publishes: the simple index (PEP 691 JSON) and a wheel's METADATA. The
pinned vLLM must exist as a Linux x86_64 wheel, its `Requires-Python` must admit the guest's Python,
and the CUDA major of the torch it pins must be the catalog's CUDA toolkit's (the system toolkit is
what FlashInfer's JIT compiles with; torch brings its own runtime). The network part is
tools/check_pins.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import parse_wheel_filename

LINUX = {"platform_system": "Linux", "sys_platform": "linux", "platform_machine": "x86_64"}


@dataclass(frozen=True)
class Wheel:
    filename: str
    url: str
    size: int
    requires_python: str | None


def linux_wheel(index: dict, version: str, python: str) -> Wheel | None:
    """The x86_64 Linux wheel of VERSION that installs on Python PYTHON ("3.12"), from a PEP 691 page."""
    major, minor = (int(x) for x in python.split("."))
    for f in index.get("files", []):
        name = f["filename"]
        if not name.endswith(".whl") or f.get("yanked"):
            continue
        _, found, _, tags = parse_wheel_filename(name)
        if str(found) == version and any(_fits(t, major, minor) for t in tags):
            return Wheel(name, f["url"], int(f.get("size") or 0), f.get("requires-python"))
    return None


def _fits(tag, major: int, minor: int) -> bool:
    """A wheel tag pip takes on CPython MAJOR.MINOR, Linux x86_64 (glibc: manylinux)."""
    platform = tag.platform == "any" or (
        tag.platform.startswith("manylinux") and tag.platform.endswith("x86_64"))
    if tag.interpreter == f"py{major}" or tag.interpreter == f"cp{major}{minor}":
        return platform
    found = re.fullmatch(rf"cp{major}(\d+)", tag.interpreter)
    return platform and tag.abi == "abi3" and bool(found) and int(found[1]) <= minor


def headers(metadata: str) -> list[tuple[str, str]]:
    """A METADATA file's header fields, in order (the description after the blank line is not read)."""
    fields = []
    for line in metadata.split("\n\n", 1)[0].splitlines():
        if line.startswith("#") or ":" not in line:
            continue
        key, _, value = line.partition(":")
        fields.append((key.strip(), value.strip()))
    return fields


def requirements(metadata: str, python: str) -> list[Requirement]:
    """The Requires-Dist lines that apply on Linux x86_64 with Python PYTHON and no extra."""
    env = {**LINUX, "python_version": python, "python_full_version": f"{python}.0", "extra": ""}
    out = []
    for key, value in headers(metadata):
        if key != "Requires-Dist":
            continue
        req = Requirement(value)
        if req.marker is None or Marker(str(req.marker)).evaluate(env):
            out.append(req)
    return out


def pinned_version(metadata: str, project: str, python: str) -> str | None:
    """The exact version METADATA pins PROJECT to (`torch==2.13.0`), None when it pins none."""
    for req in requirements(metadata, python):
        if req.name.lower() == project:
            exact = [s.version for s in req.specifier if s.operator == "=="]
            return exact[0] if exact else None
    return None


def cuda_major(torch_metadata: str, python: str) -> int | None:
    """The CUDA major torch's wheel depends on: `cuda-toolkit[...]==13.0.3` (torch >= 2.10) or the older
    `nvidia-cuda-runtime-cu12==...`."""
    for req in requirements(torch_metadata, python):
        if req.name == "cuda-toolkit":
            versions = [s.version for s in req.specifier if s.operator == "=="]
            if versions:
                return int(versions[0].split(".")[0])
        if found := re.fullmatch(r"nvidia-cuda-runtime-cu(\d+)", req.name):
            return int(found[1])
    return None


def toolkit_major(cuda_toolkit: str) -> int:
    """`cuda-toolkit-13-0` -> 13 (the catalog check guarantees the form)."""
    return int(cuda_toolkit.split("-")[2])


def python_admitted(requires_python: str | None, python: str) -> bool:
    return not requires_python or SpecifierSet(requires_python).contains(f"{python}.0")
