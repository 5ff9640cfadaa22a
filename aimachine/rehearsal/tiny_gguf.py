"""A tiny llama-architecture GGUF (about 250 KB) for the tests that pull a model for real: 2 blocks of
dimension 64, a 300-token vocabulary (<unk>, <s>, </s>, the 256 byte tokens, 41 word pieces) with scores
and token types, and the metadata keys llama.cpp's llama loader and Ollama's `ollama show` read
(general.architecture, llama.context_length / embedding_length / block_count / feed_forward_length /
attention.head_count / head_count_kv / layer_norm_rms_epsilon / rope.dimension_count, general.file_type,
tokenizer.ggml.*). Weights are seeded random numbers: the same bytes every time, nothing to infer with.

Written with the `gguf` package (llama.cpp's gguf-py, the test extra)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gguf
import numpy as np

ARCH = "llama"
DIM, BLOCKS, FF, HEADS, HEADS_KV, CONTEXT = 64, 2, 128, 4, 2, 512
SEED = 20260
WORDS = ("the", "a", "to", "of", "and", "in", "is", "it", "you", "that", "he", "was", "for", "on",
         "are", "with", "as", "I", "his", "they", "be", "at", "one", "have", "this", "from", "or",
         "had", "by", "hot", "word", "but", "what", "some", "we", "can", "out", "other", "were",
         "all", "there")
PIECES = ["\u2581" + word for word in WORDS]  # SentencePiece marks a word start with U+2581


def vocabulary() -> tuple[list[str], list[float], list[int]]:
    """Tokens, scores and token types as llama's SentencePiece vocabulary has them."""
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + PIECES
    types = ([gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
             + [gguf.TokenType.BYTE] * 256 + [gguf.TokenType.NORMAL] * len(PIECES))
    scores = [0.0] * 259 + [-float(i) for i in range(len(PIECES))]
    return tokens, scores, [int(t) for t in types]


def write(path: Path, name: str = "tiny") -> int:
    """Write the model to PATH; returns its size in bytes."""
    tokens, scores, types = vocabulary()
    rng = np.random.RandomState(SEED)
    head_dim = DIM // HEADS

    def matrix(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * 0.02).astype(np.float16)

    def norm() -> np.ndarray:
        return np.ones(DIM, dtype=np.float32)

    writer = gguf.GGUFWriter(str(path), ARCH)
    writer.add_name(name)
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(DIM)
    writer.add_block_count(BLOCKS)
    writer.add_feed_forward_length(FF)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(HEADS_KV)
    writer.add_rope_dimension_count(head_dim)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_tensor("token_embd.weight", matrix(len(tokens), DIM))
    for i in range(BLOCKS):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", norm())
        writer.add_tensor(f"blk.{i}.attn_q.weight", matrix(DIM, DIM))
        writer.add_tensor(f"blk.{i}.attn_k.weight", matrix(HEADS_KV * head_dim, DIM))
        writer.add_tensor(f"blk.{i}.attn_v.weight", matrix(HEADS_KV * head_dim, DIM))
        writer.add_tensor(f"blk.{i}.attn_output.weight", matrix(DIM, DIM))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", norm())
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", matrix(FF, DIM))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", matrix(FF, DIM))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", matrix(DIM, FF))
    writer.add_tensor("output_norm.weight", norm())
    writer.add_tensor("output.weight", matrix(len(tokens), DIM))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(path).stat().st_size


def tiny_gguf(name: str = "tiny") -> bytes:
    """The model's bytes (the same every time)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tiny.gguf"
        write(path, name)
        return path.read_bytes()


def parameter_count() -> int:
    """The weights' count (what Ollama's config shows as the parameter size)."""
    vocab = len(vocabulary()[0])
    kv = HEADS_KV * (DIM // HEADS)
    block = 2 * DIM + 2 * DIM * DIM + 2 * kv * DIM + 3 * FF * DIM
    return 2 * vocab * DIM + BLOCKS * block + DIM


if __name__ == "__main__":
    import sys

    print(write(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("tiny.gguf")))
