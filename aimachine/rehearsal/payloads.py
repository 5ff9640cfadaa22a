"""Small stand-ins for the heavy payloads, for the guest of the tests and of `aimachine rehearse` (it has
no GPU), served the way an air-gapped admin serves the real ones, and laid out as upstream publishes them:

- a PEP 503 index (`simple/`) with `vllm` whose metadata says what the real 0.32.0 wheel's METADATA says
  (`Requires-Python: <3.15,>=3.11`, `Requires-Dist: torch==2.13.0`; PyPI,
  vllm-0.32.0-cp38-abi3-manylinux_2_28_x86_64.whl) and `torch` 2.13.0 built for CUDA 13.0, as on PyPI;
- a second index (`whl/cu129/`) offering `torch 2.13.0+cu129`, as download.pytorch.org/whl/cu129 did: pip
  prefers that local version when both indexes are given, and the stand-in vLLM then fails as the real
  one does (`libcudart.so.13: cannot open shared object file`);
- an Ollama release directory with the asset the version is published under (`ollama-linux-amd64.tgz` up
  to 0.13.x, `.tar.zst` from 0.14.0: ollama commit 34d0c55, #13651) and its `sha256sum.txt`.

What they do NOT prove: GPU use, CUDA, real models or real inference. They prove the deploy's
plumbing: the index/URL knobs, the checksum, users, venv, units, sandboxing, listeners, restarts.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import random
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

from aimachine.catalog.schema import ollama_asset

# `vllm serve MODEL --host H --port P ...`: answers GET /health with 200 and an empty body, and lists the
# served name in GET /v1/models (vLLM's ModelCard: id, object, owned_by, root). Like the real
# one it needs torch's CUDA 13 runtime (vLLM's _C links libcudart.so.13) and refuses to start without it.
VLLM_CLI = '''import argparse, http.server, sys


def main():
    import torch

    if not (torch.version.cuda or "").startswith("13."):
        sys.exit("ImportError: libcudart.so.13: cannot open shared object file: No such file or directory")
    parser = argparse.ArgumentParser(prog="vllm")
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("model")
    serve.add_argument("--host", required=True)
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--gpu-memory-utilization", type=float)
    serve.add_argument("--max-model-len", type=int)
    serve.add_argument("--served-model-name")
    args = parser.parse_args()
    import json
    import time

    time.sleep(2)  # the model loads: connection refused until then, as with the real server

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b""
            if self.path == "/v1/models":
                name = args.served_model_name or args.model
                body = json.dumps({"object": "list", "data": [{
                    "id": name, "object": "model", "owned_by": "vllm", "root": args.model,
                    "max_model_len": args.max_model_len}]}).encode()
            self.send_response(200 if self.path in ("/health", "/v1/models") else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    http.server.HTTPServer((args.host, args.port), Health).serve_forever()
'''

# `ollama serve` listens on OLLAMA_HOST; `--version` and `list` answer like the real client.
OLLAMA_BIN = '''#!/usr/bin/python3
import http.server, json, os, sys

VERSION = "{version}"
host, _, port = os.environ.get("OLLAMA_HOST", "127.0.0.1:11434").rpartition(":")
if sys.argv[1:] == ["--version"]:
    print("ollama version is " + VERSION)
elif sys.argv[1:2] == ["list"]:
    print("NAME    ID    SIZE    MODIFIED")
elif sys.argv[1:2] == ["serve"]:
    os.makedirs(os.environ["OLLAMA_MODELS"], exist_ok=True)

    class Api(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({{"models": []}}).encode() if self.path == "/api/tags" else b"Ollama is running"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    http.server.HTTPServer((host, int(port)), Api).serve_forever()
else:
    sys.exit("stand-in ollama: unsupported arguments " + " ".join(sys.argv[1:]))
'''


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


VLLM_METADATA = "Requires-Python: <3.15,>=3.11\nRequires-Dist: torch==2.13.0\n"  # vllm 0.32.0's, verbatim
TORCH_VERSION = "2.13.0"


def _wheel(index: Path, name: str, version: str, tag: str, files: dict[str, str | bytes],
           metadata: str = "") -> None:
    """A wheel NAME-VERSION-TAG.whl with FILES, listed in the PEP 503 index at INDEX (HTML, as pip reads)."""
    info = f"{name}-{version}.dist-info"
    files = {
        **files,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{metadata}",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: aimachine-test\nRoot-Is-Purelib: true\n"
                         f"Tag: {tag}\n",
    }
    data = {path: text if isinstance(text, bytes) else text.encode() for path, text in files.items()}
    record = "".join(f"{path},{_record_hash(raw)},{len(raw)}\n" for path, raw in data.items())
    data[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    package_dir = index / name
    package_dir.mkdir(parents=True, exist_ok=True)
    wheel = package_dir / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, raw in data.items():
            zf.writestr(path, raw)
    _index_page(package_dir, sorted(w.name for w in package_dir.glob("*.whl")), digests=True)
    _index_page(index, sorted(f"{p.name}/" for p in index.iterdir() if p.is_dir()))


def _index_page(directory: Path, hrefs: list[str], digests: bool = False) -> None:
    def link(href: str) -> str:
        anchor = f"#sha256={hashlib.sha256((directory / href).read_bytes()).hexdigest()}" if digests else ""
        return f'<a href="{href}{anchor}">{href.rstrip("/")}</a>'
    page = "<html><body>\n" + "\n".join(map(link, hrefs)) + "\n</body></html>\n"
    (directory / "index.html").write_text(page)


def seeded_bytes(seed: str, count: int) -> bytes:
    """COUNT bytes that do not compress (a download's size is what it says), the same for the same seed."""
    return random.Random(seed).randbytes(count)


def _torch(index: Path, version: str, cuda: str, lib_bytes: int = 0) -> None:
    files: dict[str, str | bytes] = {"torch/__init__.py": "from torch import version\n",
                                     "torch/version.py": f'__version__ = "{version}"\ncuda = "{cuda}"\n'}
    if lib_bytes:  # where the real wheel carries its weight: the CUDA kernels' shared library
        files["torch/lib/libtorch_cuda.so"] = seeded_bytes(version, lib_bytes)
    _wheel(index, "torch", version, "py3-none-any", files)


def build_vllm_index(root: Path, version: str, torch_lib_bytes: int = 0) -> Path:
    """ROOT/simple (vllm and its torch, as on PyPI) and ROOT/whl/cu129 (a CUDA 12.9 torch); returns the
    first. vLLM's wheel tag is the real one (cp38-abi3-manylinux_2_28_x86_64). TORCH_LIB_BYTES gives the
    torch wheel a weight to download."""
    simple = root / "simple"
    _wheel(simple, "vllm", version, "cp38-abi3-manylinux_2_28_x86_64",
           {"vllm/__init__.py": f'__version__ = "{version}"\n', "vllm/cli.py": VLLM_CLI,
            f"vllm-{version}.dist-info/entry_points.txt": "[console_scripts]\nvllm = vllm.cli:main\n"},
           VLLM_METADATA)
    _torch(simple, TORCH_VERSION, "13.0", torch_lib_bytes)
    _torch(root / "whl" / "cu129", f"{TORCH_VERSION}+cu129", "12.9")
    return simple


def build_ollama_release(root: Path, version: str) -> str:
    """ROOT/v{version}/ASSET (bin/ollama, lib/ollama/) plus sha256sum.txt, ASSET being the name the
    release publishes for that version (.tgz up to 0.13.x, .tar.zst from 0.14.0).

    Returns the archive's sha256."""
    release = root / f"v{version}"
    release.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text, mode in (("bin/ollama", OLLAMA_BIN.format(version=version), 0o755),
                                 ("lib/ollama/README", "stand-in runtime libraries\n", 0o644)):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    tarball = release / ollama_asset(version)
    if tarball.name.endswith(".zst"):
        packed = subprocess.run(["zstd", "-q", "-c"], input=buf.getvalue(), capture_output=True,
                                check=True).stdout
    else:
        packed = gzip.compress(buf.getvalue())
    tarball.write_bytes(packed)
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    (release / "sha256sum.txt").write_text(f"{'0' * 64}  ./ollama-darwin.tgz\n{digest}  ./{tarball.name}\n")
    return digest


MIRROR_IN_GUEST = "/srv/aimachine-payloads"  # where a guest sees the mirror (bound in read-only)
MIRROR_PORT = 8090  # hub_mirror.py serves it inside the guest on 127.0.0.1 (guest.serve_mirror)
HUB_IN_GUEST = f"http://127.0.0.1:{MIRROR_PORT}"
# a model repository shaped as an AWQ one on the Hub, small: the plumbing, not a model, is under test
STANDIN_MODEL, STANDIN_MODEL_BYTES = "Qwen/Tiny-Instruct-AWQ", 2_000_000


def build_mirror(root: Path, vllm_version: str, ollama_version: str, model_bytes: int = STANDIN_MODEL_BYTES,
                 torch_lib_bytes: int = 0) -> Path:
    """ROOT as a local mirror: the package index with the stand-in vllm wheel, the Ollama release, the
    stand-in model's repository (MODEL_BYTES of weights) and the server for all of it."""
    build_vllm_index(root, vllm_version, torch_lib_bytes)
    build_ollama_release(root / "ollama", ollama_version)
    build_model_repo(root, STANDIN_MODEL, model_bytes)
    shutil.copy(Path(__file__).with_name("hub_mirror.py"), root / "hub_mirror.py")
    return root


def mirror_settings(python: str) -> dict[str, object]:
    """The catalog changes (dotted, on a VM entry) that make the services come from the mirror in the
    guest, as an air-gapped admin would set them; the vLLM model from the guest's Hub mirror
    (serve_mirror in guest.py); no Ollama model is pulled (the stand-in has none)."""
    return {
        "services.ollama.url": f"file://{MIRROR_IN_GUEST}/ollama/v{{version}}/{{asset}}",
        "services.ollama.sha256": None,
        "services.ollama.models": [],
        "services.vllm.python": python,
        "services.vllm.index_url": f"file://{MIRROR_IN_GUEST}/simple",
        "services.vllm.model": STANDIN_MODEL,
        "services.vllm.hf_endpoint": HUB_IN_GUEST,
    }


def build_model_repo(root: Path, repo: str, weights_bytes: int) -> Path:
    """ROOT/hub/REPO: a model repository as hub_mirror.py serves it, laid out as an AWQ repo on the Hub
    is (config, tokenizer files, one safetensors file); the weights are WEIGHTS_BYTES of seeded random
    bytes, so a download's size and time are the test's to choose."""
    directory = root / "hub" / repo
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(
        {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
         "quantization_config": {"quant_method": "awq", "bits": 4}}, indent=2) + "\n")
    (directory / "tokenizer_config.json").write_text('{"model_max_length": 32768}\n')
    (directory / "generation_config.json").write_text('{"do_sample": true}\n')
    (directory / "model.safetensors").write_bytes(seeded_bytes(repo, weights_bytes))
    return directory
