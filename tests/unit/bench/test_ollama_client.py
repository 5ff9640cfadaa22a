"""OllamaClient on the answers Ollama documents (tests/fixtures/ollama-api-ps.mistral-latest.json)."""

from __future__ import annotations

import json

import pytest

from aimachine.bench.ollama_client import OllamaClient
from tests.conftest import FIXTURES

PS = json.loads((FIXTURES / "ollama-api-ps.mistral-latest.json").read_text())


def client(model: str, answer: dict) -> OllamaClient:
    ollama = OllamaClient("http://127.0.0.1:11434", model, wait_s=1)
    ollama._json = lambda method, path, **_: answer  # type: ignore[method-assign]
    return ollama


@pytest.mark.parametrize("model", ["mistral", "mistral:latest"])
def test_gpu_share_finds_a_model_pulled_without_a_tag(model):
    # /api/ps names a model pulled as `mistral` "mistral:latest"
    assert client(model, PS).gpu_share() == 1.0


def test_gpu_share_of_a_model_partly_on_the_cpu_and_of_one_not_loaded():
    half = {"models": [{**PS["models"][0], "size_vram": PS["models"][0]["size"] // 2}]}
    assert client("mistral", half).gpu_share() == 0.5
    assert client("mistral:7b", PS).gpu_share() is None
    assert client("mistral", {"models": []}).gpu_share() is None


def test_weight_bytes_reads_the_same_entry():
    assert client("mistral", PS).weight_bytes() == 5137025024
