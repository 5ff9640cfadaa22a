"""A tiny random Llama that the real vLLM loads and serves on a CPU: config, safetensors weights, a byte-level
BPE tokenizer trained here on the project's own docs, and a chat template, laid out as a repository on the
Hub (what hub_mirror.py serves under the catalog's model id).

The shapes are what vLLM 0.32.0's CPU attention accepts (head size 32: it refuses 16); the weights are
seeded random numbers, so the text it writes is noise, but every token is really computed and counted.
The weights are written in the safetensors format directly (an 8-byte header length, a JSON header, the
raw little-endian tensors): no torch on the test machine.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

HIDDEN, INTERMEDIATE, LAYERS, HEADS, VOCAB = 128, 256, 2, 4, 2048
BOS, EOS, IM_START, IM_END = "<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>"
# ChatML, the shape Qwen's chat models use (the catalog's model family)
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% endif %}"
)
CORPUS = Path(__file__).resolve().parents[2] / "docs"


def tokenizer(corpus: Path = CORPUS) -> Tokenizer:
    """Byte-level BPE with VOCAB tokens, trained on the Markdown under CORPUS (the same files: the same
    tokenizer)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=[BOS, EOS, IM_START, IM_END],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    texts = [p.read_text(encoding="utf-8") for p in sorted(corpus.glob("*.md"))]
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def _tensors(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def weight(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype("<f4") * np.float32(0.02)

    tensors = {"model.embed_tokens.weight": weight(VOCAB, HIDDEN), "lm_head.weight": weight(VOCAB, HIDDEN),
               "model.norm.weight": np.ones(HIDDEN, "<f4")}
    for layer in range(LAYERS):
        prefix = f"model.layers.{layer}"
        for proj in ("q", "k", "v", "o"):
            tensors[f"{prefix}.self_attn.{proj}_proj.weight"] = weight(HIDDEN, HIDDEN)
        tensors[f"{prefix}.mlp.gate_proj.weight"] = weight(INTERMEDIATE, HIDDEN)
        tensors[f"{prefix}.mlp.up_proj.weight"] = weight(INTERMEDIATE, HIDDEN)
        tensors[f"{prefix}.mlp.down_proj.weight"] = weight(HIDDEN, INTERMEDIATE)
        tensors[f"{prefix}.input_layernorm.weight"] = np.ones(HIDDEN, "<f4")
        tensors[f"{prefix}.post_attention_layernorm.weight"] = np.ones(HIDDEN, "<f4")
    return tensors


def bfloat16(values: np.ndarray) -> bytes:
    """float32 to bfloat16 by truncation (its upper 16 bits): the dtype vLLM runs on a CPU."""
    return (values.astype("<f4").view("<u4") >> 16).astype("<u2").tobytes()


def safetensors_bytes(tensors: dict[str, np.ndarray]) -> bytes:
    """The safetensors format (huggingface/safetensors: README, "Format"), every tensor in BF16."""
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        raw = bfloat16(tensors[name])
        header[name] = {"dtype": "BF16", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def write(directory: Path, seed: int = 0) -> Path:
    """DIRECTORY as the model's repository; returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    tok = tokenizer()
    ids = {t: tok.token_to_id(t) for t in (BOS, EOS, IM_START, IM_END)}
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
        "num_key_value_heads": HEADS, "head_dim": HIDDEN // HEADS, "vocab_size": VOCAB,
        "max_position_embeddings": 32768, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "hidden_act": "silu", "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "bos_token_id": ids[BOS], "eos_token_id": ids[IM_END],
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (directory / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": ids[BOS], "eos_token_id": [ids[IM_END], ids[EOS]]}, indent=2) + "\n")
    tok.save(str(directory / "tokenizer.json"))
    (directory / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": BOS, "eos_token": IM_END,
        "pad_token": EOS, "model_max_length": 32768, "chat_template": CHAT_TEMPLATE,
        "add_bos_token": False}, indent=2) + "\n")
    (directory / "model.safetensors").write_bytes(safetensors_bytes(_tensors(seed)))
    return directory
