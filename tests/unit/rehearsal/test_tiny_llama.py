"""The tiny Llama the real vLLM serves in the engine tests: shapes vLLM's CPU attention accepts, a
readable safetensors file, a tokenizer and chat template that work, the same bytes every time."""

from __future__ import annotations

import itertools
import json
import struct

import jinja2
from tokenizers import Tokenizer

from tests.harness import tiny_llama


def test_the_repository_loads_as_a_llama_of_the_promised_shape(tmp_path):
    repo = tiny_llama.write(tmp_path / "m")
    config = json.loads((repo / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["hidden_size"] // config["num_attention_heads"] == 32  # the CPU attention refuses 16
    raw = (repo / "model.safetensors").read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + size])
    embed = header["model.embed_tokens.weight"]
    assert (embed["dtype"], embed["shape"]) == ("BF16", [2048, 128])
    ends = sorted(t["data_offsets"] for t in header.values())
    assert ends[0][0] == 0 and all(a[1] == b[0] for a, b in itertools.pairwise(ends))
    assert len(raw) == 8 + size + ends[-1][1]  # every byte accounted for
    assert len(header) == 3 + 9 * config["num_hidden_layers"]


def test_the_tokenizer_and_chat_template_make_a_prompt(tmp_path):
    repo = tiny_llama.write(tmp_path / "m")
    tok = Tokenizer.from_file(str(repo / "tokenizer.json"))
    assert tok.get_vocab_size() == 2048
    settings = json.loads((repo / "tokenizer_config.json").read_text())
    prompt = jinja2.Template(settings["chat_template"]).render(
        messages=[{"role": "user", "content": "hi"}], add_generation_prompt=True)
    assert prompt == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    ids = tok.encode(prompt).ids
    assert tok.token_to_id("<|im_start|>") in ids and tok.decode(ids, skip_special_tokens=False)


def test_the_same_model_every_time(tmp_path):
    one, two = tiny_llama.write(tmp_path / "a"), tiny_llama.write(tmp_path / "b")
    assert {p.name: p.read_bytes() for p in one.iterdir()} == {p.name: p.read_bytes() for p in two.iterdir()}
