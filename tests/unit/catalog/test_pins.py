"""The pins of the shipped catalog, judged on what PyPI publishes (saved in tests/fixtures/pypi with their
source): the vLLM wheel exists for the guest's Python, admits it, and its torch's CUDA major is the
catalog's toolkit's. `make check-pins` asks PyPI the same questions live."""

from __future__ import annotations

import json

import pytest

from aimachine.catalog import pins
from aimachine.catalog.schema import load_catalog
from tests.conftest import FIXTURES, ROOT

PYPI = FIXTURES / "pypi"
VLLM_INDEX = json.loads((PYPI / "simple-vllm.json").read_text())
VLLM_META = (PYPI / "vllm-0.32.0.METADATA").read_text()
TORCH_META = (PYPI / "torch-2.13.0.METADATA").read_text()
LITELLM_META = (PYPI / "litellm-1.110.2.METADATA").read_text()


@pytest.fixture(scope="module")
def vm():
    return load_catalog(ROOT / "catalog.yml").vms[0]


def test_the_shipped_vllm_pin_has_a_linux_wheel_that_admits_the_guest_python(vm):
    wheel = pins.linux_wheel(VLLM_INDEX, vm.services.vllm.version, vm.services.vllm.python)
    assert wheel and wheel.filename == "vllm-0.32.0-cp38-abi3-manylinux_2_28_x86_64.whl"
    assert wheel.requires_python == "<3.15,>=3.11"
    assert pins.python_admitted(wheel.requires_python, vm.services.vllm.python)
    assert not pins.python_admitted(wheel.requires_python, "3.10")  # jammy's Python cannot run it


def test_the_shipped_toolkit_matches_the_cuda_of_the_torch_vllm_pins(vm):
    torch = pins.pinned_version(VLLM_META, "torch", vm.services.vllm.python)
    assert torch == "2.13.0"
    assert pins.cuda_major(TORCH_META, vm.services.vllm.python) == 13
    assert pins.toolkit_major(vm.nvidia.cuda_toolkit) == 13


def test_metadata_reading():
    assert ("Requires-Python", "<3.15,>=3.11") in pins.headers(VLLM_META)
    assert pins.pinned_version(VLLM_META, "flashinfer-python", "3.12") == "0.7.0.post1"
    assert pins.pinned_version(VLLM_META, "nonexistent", "3.12") is None
    # an extra's requirement does not apply: zentorch is only in vllm[zen]
    assert pins.pinned_version(VLLM_META, "zentorch", "3.12") is None
    assert pins.cuda_major("Requires-Dist: nvidia-cuda-runtime-cu12==12.8.90; platform_system == \"Linux\"",
                           "3.12") == 12
    assert pins.cuda_major(VLLM_META, "3.12") is None


def test_no_wheel_for_a_version_that_does_not_exist_or_an_unknown_platform():
    assert pins.linux_wheel(VLLM_INDEX, "0.99.0", "3.12") is None
    only_arm = {"files": [f for f in VLLM_INDEX["files"] if "aarch64" in f["filename"]]}
    assert pins.linux_wheel(only_arm, "0.32.0", "3.12") is None


def test_the_litellm_pin_admits_the_gateways_python_and_its_proxy_extra_is_the_same_release():
    """litellm[proxy] 1.110.2: Requires-Python >=3.10, <3.16 (noble's 3.12 fits); the proxy extra pins
    litellm-proxy to the same version, beside uvicorn, fastapi and the rest of the server."""
    from packaging.requirements import Requirement

    from aimachine.catalog import gateway

    found = dict(pins.headers(LITELLM_META))
    assert (found["Name"], found["Version"]) == ("litellm", gateway.LITELLM_VERSION)
    assert pins.python_admitted(found["Requires-Python"], gateway.LITELLM_PYTHON)
    proxy = {r.name: str(r.specifier) for r in map(Requirement, (v for k, v in pins.headers(LITELLM_META)
                                                                  if k == "Requires-Dist"))
             if r.marker and r.marker.evaluate({"extra": "proxy", "python_full_version": "3.12.0",
                                                "sys_platform": "linux"})}
    assert proxy["litellm-proxy"] == f"=={gateway.LITELLM_VERSION}"
    assert {"uvicorn", "fastapi", "gunicorn", "cryptography"} <= set(proxy)


def _proxy_extra() -> dict[str, str]:
    """{name: specifier} of what the proxy extra adds for Python 3.12 on Linux (not the base requirements)."""
    from packaging.requirements import Requirement

    env = {"python_full_version": "3.12.3", "python_version": "3.12", "sys_platform": "linux"}
    found = {}
    for value in (v for k, v in pins.headers(LITELLM_META) if k == "Requires-Dist"):
        req = Requirement(value)
        if req.marker and req.marker.evaluate({**env, "extra": "proxy"}) \
                and not req.marker.evaluate({**env, "extra": ""}):
            found[req.name] = str(req.specifier)
    return found


def test_the_gateway_installs_the_proxy_extra_less_the_three_pins_pypi_has_no_release_for():
    """litellm[proxy]==1.110.2 cannot be installed from PyPI: its extra pins litellm-proxy (no such project),
    litellm-proxy-extras 0.4.114.post1 and litellm-enterprise 0.1.83.post1 (not published). The step installs
    litellm and every other requirement of that extra, with the extra's own specifiers."""
    from packaging.requirements import Requirement

    from aimachine.catalog import gateway

    extra = _proxy_extra()
    published = json.loads((PYPI / "litellm-proxy-companions.json").read_text())
    for name in gateway.UNPUBLISHED_PROXY_PINS:
        pinned = extra[name].removeprefix("==")
        assert published[name] is None or pinned not in published[name], name
    wanted = gateway.litellm_requirements(gateway.LITELLM_VERSION)
    assert wanted[0] == f"litellm=={gateway.LITELLM_VERSION}"
    given = {r.name: str(r.specifier) for r in map(Requirement, wanted[1:])}
    assert given == {n: s for n, s in extra.items() if n not in gateway.UNPUBLISHED_PROXY_PINS}
    assert gateway.litellm_requirements("1.111.0") == ("litellm[proxy]==1.111.0",)
