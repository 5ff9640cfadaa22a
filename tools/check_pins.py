"""`make check-pins`: ask PyPI whether the catalog's vLLM pin exists and fits the guest (its Python, the
CUDA toolkit). Reaches PyPI; never run by the tests (they judge saved metadata: tests/fixtures/pypi).

A wheel's METADATA is read with HTTP range requests (the zip's directory, then one member), so a 300 MB
wheel costs a few hundred kB. Exit 0: every pin fits; 1: a pin does not (each problem says which);
2: PyPI could not be asked.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import urllib.request
import zipfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from aimachine.catalog import pins
from aimachine.catalog.schema import CatalogError, load_catalog

INDEX = os.environ.get("AIMACHINE_PYPI_SIMPLE", "https://pypi.org/simple")
TIMEOUT_S = 60


class _RangeFile(io.RawIOBase):
    """A remote file read by HTTP Range requests, for zipfile (which seeks to the end first)."""

    def __init__(self, url: str, size: int):
        self.url, self.size, self.pos = url, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def readinto(self, buffer) -> int:
        end = min(self.size, self.pos + len(buffer))
        if end <= self.pos:
            return 0
        request = urllib.request.Request(self.url, headers={"Range": f"bytes={self.pos}-{end - 1}"})
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            data = response.read()
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)


def simple_page(project: str) -> dict:
    request = urllib.request.Request(f"{INDEX}/{project}/",
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        return json.load(response)


def wheel_metadata(wheel: pins.Wheel) -> str:
    with zipfile.ZipFile(io.BufferedReader(_RangeFile(wheel.url, wheel.size), 1 << 16)) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return zf.read(name).decode()


def check_vm(vm) -> list[str]:
    """Problems with VM's vLLM pin, one line each; [] when it fits."""
    cfg, where = vm.services.vllm, f"{vm.name}: services.vllm"
    wheel = pins.linux_wheel(simple_page("vllm"), cfg.version, cfg.python)
    if wheel is None:
        return [f"{where}.version {cfg.version}: PyPI has no Linux x86_64 wheel of it for Python "
                f"{cfg.python}"]
    problems = []
    if not pins.python_admitted(wheel.requires_python, cfg.python):
        problems.append(f"{where}.python {cfg.python}: vllm {cfg.version} requires Python "
                        f"{wheel.requires_python}")
    torch = pins.pinned_version(wheel_metadata(wheel), "torch", cfg.python)
    if torch is None:
        return [*problems, f"{where}.version {cfg.version}: its metadata pins no torch version"]
    torch_wheel = pins.linux_wheel(simple_page("torch"), torch, cfg.python)
    if torch_wheel is None:
        return [*problems, f"{where}: torch {torch} (pinned by vllm {cfg.version}) has no wheel for Python "
                           f"{cfg.python} on PyPI"]
    cuda = pins.cuda_major(wheel_metadata(torch_wheel), cfg.python)
    toolkit = pins.toolkit_major(vm.nvidia.cuda_toolkit)
    if cuda != toolkit:
        problems.append(f"{vm.name}: nvidia.cuda_toolkit {vm.nvidia.cuda_toolkit}: vllm {cfg.version} runs "
                        f"on torch {torch} built for CUDA {cuda}; use cuda-toolkit-{cuda}-0")
    print(f"{vm.name}: vllm {cfg.version} (Requires-Python {wheel.requires_python}, Python {cfg.python}), "
          f"torch {torch} (CUDA {cuda}), {vm.nvidia.cuda_toolkit}: {'ok' if not problems else 'MISMATCH'}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", default=os.environ.get("AIMACHINE_CATALOG", "catalog.yml"))
    args = parser.parse_args(argv)
    try:
        catalog = load_catalog(args.catalog)
    except CatalogError as err:
        print(err, file=sys.stderr)
        return 2
    problems = []
    for vm in catalog.vms:
        if not vm.services.vllm.enabled:
            continue
        try:
            problems += check_vm(vm)
        except (OSError, zipfile.BadZipFile, StopIteration, ValueError) as err:
            print(f"check-pins: could not read {INDEX} ({err}); is PyPI reachable?", file=sys.stderr)
            return 2
    for line in problems:
        print(f"check-pins: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
