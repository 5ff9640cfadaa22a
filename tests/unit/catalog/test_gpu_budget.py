"""vLLM's share plus the Ollama models it may hold at once, against the card's memory: the sizes read from
`ollama list` as Ollama prints them (format.HumanBytes, decimal units), or given in the catalog."""

from __future__ import annotations

import dataclasses
import logging

from aimachine.catalog.gpu_budget import overcommit, unknown_sizes
from aimachine.catalog.schema import load_catalog
from aimachine.configure.steps import STEPS
from aimachine.guest.parsers import parse_ollama_sizes
from tests.conftest import ROOT, run_aimachine
from tests.deploy.fakehost import run_fake
from tests.deploy.ubuntu_host import converged
from tests.harness.real_outputs import printed

VM = load_catalog(ROOT / "catalog.yml").vms[0]


def _vm(share: float = 0.5, card_mib: int = 15872, **ollama_fields) -> object:
    vllm = dataclasses.replace(VM.services.vllm, gpu_memory_utilization=share)
    ollama = dataclasses.replace(VM.services.ollama, **ollama_fields)
    return dataclasses.replace(VM, gpu=dataclasses.replace(VM.gpu, min_memory_mib=card_mib),
                               services=dataclasses.replace(VM.services, vllm=vllm, ollama=ollama))


def test_sizes_are_read_from_the_real_ollama_list():
    listing = printed("ollama-list.two-tags.txt", "ollama list")
    assert parse_ollama_sizes(listing) == {"llama3:8b": 4_700_000_000, "llama3:latest": 4_700_000_000}
    assert parse_ollama_sizes("NAME ID SIZE MODIFIED\nqwen3:0.6b a 523 MB now\ncloud:x b - now\n") == {
        "qwen3:0.6b": 523_000_000}


def test_the_shipped_sharing_fits_and_a_greedy_vllm_does_not():
    sizes = {"llama3.2:3b": 2_000_000_000}
    assert overcommit(VM, sizes) is None  # 0.5 x 15872 MiB + 1907 MiB
    greedy = overcommit(_vm(share=0.9), sizes)
    assert greedy.startswith("vLLM's share (0.9 x 15872 MiB = 14285 MiB) and Ollama's llama3.2:3b (1907 MiB) "
                             "need 16192 MiB, more than the card's 15872 MiB")


def test_only_the_largest_models_ollama_may_hold_at_once_count():
    vm = _vm(models=["llama3.1:8b", "qwen2.5:14b", "llama3.2:3b"], max_loaded_models=1)
    sizes = {"llama3.1:8b": 4_900_000_000, "qwen2.5:14b": 9_000_000_000, "llama3.2:3b": 2_000_000_000}
    assert "qwen2.5:14b (8583 MiB)" in overcommit(vm, sizes) and "llama3.1:8b" not in overcommit(vm, sizes)
    assert overcommit(_vm(models=["llama3.1:8b", "llama3.2:3b"], max_loaded_models=2), sizes) is None
    small_card = _vm(card_mib=12000, models=["llama3.1:8b", "llama3.2:3b"], max_loaded_models=2)
    assert "llama3.1:8b (4673 MiB), llama3.2:3b" in overcommit(small_card, sizes)


def test_an_unknown_size_is_not_guessed_and_a_bare_name_means_latest():
    vm = _vm(models=["mistral"])
    assert overcommit(vm, {}) is None and unknown_sizes(vm, {}) == ["mistral"]
    assert overcommit(vm, {"mistral:latest": 9_000_000_000}) is not None


def test_catalog_validate_warns_and_still_passes(tmp_path, admin_home):
    text = (ROOT / "catalog.yml").read_text().replace('{"llama3.2:3b": 2000}', '{"llama3.2:3b": 9000}')
    path = tmp_path / "catalog.yml"
    path.write_text(text)
    result = run_aimachine("catalog", "validate", "--catalog", str(path))
    assert result.returncode == 0, result.stderr
    assert "warn vm-llm-aimachine: vLLM's share (0.5 x 15872 MiB = 7936 MiB) and Ollama's llama3.2:3b " \
           "(8583 MiB) need 16519 MiB" in result.stdout
    assert "warn" not in run_aimachine("catalog", "validate", "--catalog", str(ROOT / "catalog.yml")).stdout


def test_configure_warns_from_the_sizes_ollama_lists_and_changes_nothing(caplog):
    host = converged(VM)
    host.overrides["ollama list"] = ("NAME    ID    SIZE    MODIFIED\n"
                                     "llama3.2:3b    a80c4f17acd5    9.0 GB    now\n")
    with caplog.at_level(logging.WARNING):
        run = run_fake([STEPS["ollama"]], host.responses(), vm=VM)
    assert not run.failed and run.changed == []
    assert any("NOTE: vLLM's share" in r.getMessage() and "llama3.2:3b (8583 MiB)" in r.getMessage()
               for r in caplog.records)
