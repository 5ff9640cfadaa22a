"""Small stand-ins for the heavy payloads, for the guest of the tests and of `aimachine rehearse` (it has
no GPU), served the way an air-gapped admin serves the real ones: a local package index holding a
`vllm` wheel, and an Ollama release directory with its sha256sum.txt (the asset name and checksum file
of Ollama's own release workflow).

What they do NOT prove: GPU use, CUDA, real models or real inference. They prove the deploy's
plumbing: the index/URL knobs, the checksum, users, venv, units, sandboxing, listeners, restarts.
"""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import tarfile
import zipfile
from pathlib import Path

# `vllm serve MODEL --host H --port P ...`: answers GET /health with 200 and an empty body.
VLLM_CLI = '''import argparse, http.server, sys


def main():
    parser = argparse.ArgumentParser(prog="vllm")
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("model")
    serve.add_argument("--host", required=True)
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--gpu-memory-utilization", type=float)
    serve.add_argument("--max-model-len", type=int)
    args = parser.parse_args()

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

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


def build_vllm_index(root: Path, version: str) -> Path:
    """A PEP 503 index at ROOT/simple with a pure-Python vllm wheel; returns the index dir."""
    files = {
        "vllm/__init__.py": f'__version__ = "{version}"\n',
        "vllm/cli.py": VLLM_CLI,
        f"vllm-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: vllm\nVersion: {version}\n",
        f"vllm-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: aimachine-test\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
        f"vllm-{version}.dist-info/entry_points.txt": "[console_scripts]\nvllm = vllm.cli:main\n",
    }
    record = "".join(f"{name},{_record_hash(text.encode())},{len(text.encode())}\n"
                     for name, text in files.items())
    files[f"vllm-{version}.dist-info/RECORD"] = record + f"vllm-{version}.dist-info/RECORD,,\n"
    package_dir = root / "simple" / "vllm"
    package_dir.mkdir(parents=True, exist_ok=True)
    wheel = package_dir / f"vllm-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (package_dir / "index.html").write_text(
        f'<html><body><a href="{wheel.name}#sha256={digest}">{wheel.name}</a></body></html>\n')
    (root / "simple" / "index.html").write_text('<html><body><a href="vllm/">vllm</a></body></html>\n')
    return root / "simple"


def build_ollama_release(root: Path, version: str) -> str:
    """ROOT/v{version}/ollama-linux-amd64.tar.zst (bin/ollama, lib/ollama/) plus sha256sum.txt.

    Returns the tarball's sha256."""
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
    tarball = release / "ollama-linux-amd64.tar.zst"
    tarball.write_bytes(subprocess.run(["zstd", "-q", "-c"], input=buf.getvalue(), capture_output=True,
                                       check=True).stdout)
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    (release / "sha256sum.txt").write_text(f"{'0' * 64}  ./ollama-darwin.tgz\n{digest}  ./{tarball.name}\n")
    return digest


MIRROR_IN_GUEST = "/srv/aimachine-payloads"  # where a guest sees the mirror (bound in read-only)


def build_mirror(root: Path, vllm_version: str, ollama_version: str) -> Path:
    """ROOT as a local mirror: the package index with the stand-in vllm wheel, the Ollama release."""
    build_vllm_index(root, vllm_version)
    build_ollama_release(root / "ollama", ollama_version)
    return root


def mirror_settings(python: str) -> dict[str, object]:
    """The catalog changes (dotted, on a VM entry) that make the services come from the mirror in the
    guest, as an air-gapped admin would set them; no model is pulled (the stand-in has none)."""
    return {
        "services.ollama.url": f"file://{MIRROR_IN_GUEST}/ollama/v{{version}}/ollama-linux-amd64.tar.zst",
        "services.ollama.sha256": None,
        "services.ollama.models": [],
        "services.vllm.python": python,
        "services.vllm.index_url": f"file://{MIRROR_IN_GUEST}/simple",
        "services.vllm.torch_index_url": f"file://{MIRROR_IN_GUEST}/simple",
    }
