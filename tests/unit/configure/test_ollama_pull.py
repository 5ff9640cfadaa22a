"""The ollama step's pulls: `--insecure` only for a model from a registry the catalog lists as plain http
(services.ollama.insecure_registries), and a model `ollama list` already shows under its listed name
(a registry of one's own: HOST:PORT/NAMESPACE/MODEL:TAG) is not pulled again. The pull itself, by the real
Ollama from a registry: tests/unit/rehearsal/test_ollama_registry.py."""

from __future__ import annotations

import dataclasses

from aimachine.catalog.schema import load_catalog
from aimachine.configure.ollama import OLLAMA, pull_command
from aimachine.configure.steps import STEPS
from tests.conftest import ROOT
from tests.deploy.fakehost import run_fake
from tests.deploy.ubuntu_host import converged

VM = load_catalog(ROOT / "catalog.yml").vms[0]
LAN = "192.168.1.5:5000/library/tiny:latest"


def _vm(**ollama_fields) -> object:
    ollama = dataclasses.replace(VM.services.ollama, **ollama_fields)
    return dataclasses.replace(VM, services=dataclasses.replace(VM.services, ollama=ollama))


def test_the_pull_command_adds_insecure_only_when_asked():
    assert pull_command("llama3.2:3b", "127.0.0.1:11434").endswith(f"{OLLAMA} pull llama3.2:3b")
    assert pull_command(LAN, "127.0.0.1:11434", True).endswith(f"{OLLAMA} pull --insecure {LAN}")
    assert pull_command("x", "127.0.0.1:11434", ollama="/opt/o").endswith("/opt/o pull x")


def test_a_lan_model_is_pulled_insecure_and_the_others_are_not():
    vm = _vm(models=["llama3.2:3b", LAN, "mirror.lan/library/qwen3:0.6b"],
             insecure_registries=["192.168.1.5:5000"])
    host = converged(vm)
    host.overrides["ollama list"] = "NAME    ID    SIZE    MODIFIED \n"
    run = run_fake([STEPS["ollama"]], host.responses(), vm=vm)
    pulls = [c for c in run.executed if " pull " in str(c)]
    assert any(f"pull --insecure {LAN}" in str(c) for c in pulls)
    assert any("pull llama3.2:3b" in str(c) for c in pulls)
    assert any("pull mirror.lan/library/qwen3:0.6b" in str(c) for c in pulls)
    assert sum("--insecure" in str(c) for c in pulls) == 1


def test_a_lan_model_ollama_lists_is_not_pulled_again():
    vm = _vm(models=[LAN.removesuffix(":latest")], insecure_registries=["192.168.1.5:5000"])
    host = converged(vm)
    host.overrides["ollama list"] = ("NAME                                    ID              SIZE      "
                                     "MODIFIED \n"
                                     f"{LAN}    82b58b6e0ebe    234 KB    2 minutes ago    \n")
    run = run_fake([STEPS["ollama"]], host.responses(), vm=vm)
    assert not run.failed and run.changed == []
    assert not any(" pull " in str(c) for c in run.executed)
