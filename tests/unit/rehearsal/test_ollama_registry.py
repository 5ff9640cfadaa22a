"""The real Ollama 0.32.15 pulls from aimachine/rehearsal/ollama_registry.py: the product's own pull command
against a registry on 127.0.0.1 (plain http, so `--insecure`, as for a registry on the admin's LAN), then
`ollama list` read with the product's parsers and `ollama show`. No request leaves the machine: the
server runs with OLLAMA_NO_CLOUD=1 and its proxy set to a closed loopback port (Go's client never
proxies a loopback address, so only the registry answers).

The binary: $AIMACHINE_OLLAMA_BIN, else the one tools/build.sh builds into the tools cache
(~/.cache/aimachine/tools/ollama-VERSION/bin/ollama); without either the tests are skipped (in CI
they fail)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from aimachine.catalog.schema import Ollama
from aimachine.configure.facts import OllamaModels
from aimachine.configure.ollama import pull_command
from aimachine.guest import parsers
from aimachine.rehearsal import ollama_registry, tiny_gguf
from aimachine.rehearsal.in_thread import in_thread
from aimachine.rehearsal.tools import tools_dir

VERSION = Ollama().version
BIN_ENV = "AIMACHINE_OLLAMA_BIN"


def ollama_binary() -> tuple[str | None, str]:
    """The real ollama binary, or None and why not."""
    if os.environ.get(BIN_ENV):
        path = Path(os.environ[BIN_ENV])
        return (str(path), "") if os.access(path, os.X_OK) else (None, f"${BIN_ENV}={path} is not executable")
    built = tools_dir() / f"ollama-{VERSION}" / "bin" / "ollama"
    if os.access(built, os.X_OK):
        return str(built), ""
    return None, (f"no ollama {VERSION} binary: set ${BIN_ENV}, or build it into {built} (tools/build.sh)")


OLLAMA, WHY_NOT = ollama_binary()


@pytest.fixture(autouse=True, scope="module")
def _needs_ollama() -> None:
    """Skip without the binary, but never in CI, which builds it first: there it is a failure."""
    if OLLAMA is None and os.environ.get("CI") == "true":
        pytest.fail(f"{WHY_NOT} (.ci/run builds it before the tests)")
    if OLLAMA is None:
        pytest.skip(WHY_NOT)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Iterator[tuple[ollama_registry.Registry, str]]:
    """The registry with two models: library/tiny:latest (template and params layers too) and
    team/broken:q8, whose model blob no longer matches its digest. Yields it and its HOST:PORT."""
    root = tmp_path_factory.mktemp("registry")
    ollama_registry.publish(root, "library/tiny:latest", tiny_gguf.tiny_gguf(),
                            parameters=tiny_gguf.parameter_count(), template="{{ .Prompt }}",
                            params={"stop": ["</s>"]})
    broken = ollama_registry.publish(root, "team/broken:q8", tiny_gguf.tiny_gguf(name="broken"),
                                     parameters=tiny_gguf.parameter_count())
    blob = ollama_registry.blob_path(root, broken["layers"][0]["digest"])
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes: the digest no longer holds
    blob.write_bytes(bytes(data))
    reg = ollama_registry.Registry(root)
    with in_thread(ollama_registry.serve(reg), "ollama-registry") as port:
        yield reg, f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def ollama_server(tmp_path_factory) -> Iterator[dict[str, str]]:
    """`ollama serve` on a free loopback port with its own HOME and model store; yields the environment
    its CLI runs with (the server's log: env["LOG"])."""
    home = tmp_path_factory.mktemp("ollama-home")
    bind = f"127.0.0.1:{free_port()}"
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: a request for the internet fails here
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "OLLAMA_HOST": bind,
           "OLLAMA_MODELS": str(home / "models"), "OLLAMA_NO_CLOUD": "1",
           "HTTPS_PROXY": closed, "HTTP_PROXY": closed, "NO_PROXY": ""}
    log = home / "serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([OLLAMA, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://{bind}/api/version", timeout=2) as answer:
                    assert json.load(answer)["version"] == VERSION
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"ollama serve did not answer on {bind}:\n{log.read_text()}")
                time.sleep(0.2)
        yield {**env, "LOG": str(log)}
    finally:
        server.terminate()
        server.wait(timeout=30)


def run(env: dict[str, str], command: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([OLLAMA, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_the_server_starts_with_the_cloud_off(ollama_server):
    log = Path(ollama_server["LOG"]).read_text()
    assert 'msg="Ollama cloud disabled: true"' in log
    assert 'msg="inference compute"' in log


def test_the_product_pulls_from_a_plain_http_registry_and_sees_the_model(registry, ollama_server):
    reg, host = registry
    name = f"{host}/library/tiny:latest"
    cfg = Ollama(models=[name], insecure_registries=[host])
    assert cfg.pulls_insecure(name) and not cfg.pulls_insecure("llama3.2:3b")
    env = ollama_server
    before = len(reg.requests)

    pulled = run(env, pull_command(name, env["OLLAMA_HOST"], cfg.pulls_insecure(name), ollama=OLLAMA))
    assert pulled.returncode == 0, pulled.stderr
    assert "success" in pulled.stderr

    listed = cli(env, "list")
    assert listed.returncode == 0 and listed.stdout.splitlines()[0].startswith("NAME")
    present = OllamaModels().process(listed.stdout.splitlines())
    assert list(present) == [name]  # listed with its host and namespace (DisplayShortest)
    for wanted in (name, f"{host}/library/tiny", f"http://{host}/library/tiny"):
        assert parsers.has_model(present, wanted), wanted
    assert not parsers.has_model(present, "tiny") and not parsers.has_model(present, f"{host}/team/tiny")
    assert present[name] == 234_000  # `234 KB`: the layers and the config (decimal units)

    shown = cli(env, "show", name)
    assert shown.returncode == 0, shown.stderr
    table = {" ".join(line.split()[:-1]): line.split()[-1] for line in shown.stdout.splitlines()
             if len(line.split()) >= 2}
    assert table["architecture"] == "llama" and table["quantization"] == "F16"
    assert table["parameters"] == ollama_registry.human_number(tiny_gguf.parameter_count()) == "112K"
    assert table["context length"] == str(tiny_gguf.CONTEXT)
    modelfile = cli(env, "show", "--modelfile", name).stdout
    assert "TEMPLATE {{ .Prompt }}" in modelfile and "PARAMETER stop </s>" in modelfile

    # the protocol as the client spoke it: manifest, then HEAD + GET (redirected) + ranged GET per blob
    spoken = reg.requests[before:]
    manifest = spoken[0]
    assert (manifest["method"], manifest["path"]) == ("GET", "/v2/library/tiny/manifests/latest")
    assert manifest["accept"] == ollama_registry.MANIFEST_V2
    assert manifest["user_agent"].startswith(f"ollama/{VERSION} ")
    blobs = {r["path"].rsplit("/", 1)[-1] for r in spoken if "/blobs/" in r["path"]}
    assert len(blobs) == 4  # model, template, params, config
    assert {r["method"] for r in spoken if "/blobs/" in r["path"]} == {"HEAD", "GET"}
    assert all(r["status"] == 307 and r["location"].startswith("http://localhost:")
               for r in spoken if r["method"] == "GET" and "/blobs/" in r["path"])
    ranged = [r for r in spoken if r["path"].startswith("/direct/")]
    assert len(ranged) == 4 and all(r["status"] == 206 and r["range"].startswith("bytes=0-") for r in ranged)
    assert not any(r["authorization"] for r in spoken)
    assert {r["host"].split(":")[0] for r in spoken} == {"127.0.0.1", "localhost"}

    stored = Path(env["OLLAMA_MODELS"]) / "manifests" / host / "library" / "tiny" / "latest"
    assert stored.read_bytes() == (reg.root / "manifests" / "library" / "tiny" / "latest").read_bytes()

    # pulled again: the manifest only, every blob already there
    again = len(reg.requests)
    assert run(env, pull_command(name, env["OLLAMA_HOST"], True, ollama=OLLAMA)).returncode == 0
    assert [r["path"] for r in reg.requests[again:]] == ["/v2/library/tiny/manifests/latest"]


def test_without_insecure_the_pull_asks_https_and_fails(registry, ollama_server):
    _, host = registry
    pulled = run(ollama_server, pull_command(f"{host}/library/tiny:latest", ollama_server["OLLAMA_HOST"],
                                             ollama=OLLAMA))
    assert pulled.returncode != 0
    assert f'Get "https://{host}/v2/library/tiny/manifests/latest"' in pulled.stderr
    # an http:// in the name does not help: the server pulls the name without it (DisplayShortest)
    pulled = run(ollama_server, pull_command(f"http://{host}/library/tiny:latest",
                                             ollama_server["OLLAMA_HOST"], ollama=OLLAMA))
    assert pulled.returncode != 0 and "https://" in pulled.stderr


def test_a_blob_that_does_not_match_its_digest_fails_the_pull(registry, ollama_server):
    reg, host = registry
    name = f"{host}/team/broken:q8"
    pulled = run(ollama_server, pull_command(name, ollama_server["OLLAMA_HOST"], True, ollama=OLLAMA))
    assert pulled.returncode != 0
    assert "digest mismatch, file must be downloaded again" in pulled.stderr
    manifest = json.loads((reg.root / "manifests" / "team" / "broken" / "q8").read_text())
    digest = manifest["layers"][0]["digest"]
    served = ollama_registry.blob_path(reg.root, digest).read_bytes()
    assert f"want {digest}, got sha256:{hashlib.sha256(served).hexdigest()}" in pulled.stderr
    store = Path(ollama_server["OLLAMA_MODELS"])
    assert not (store / "blobs" / digest.replace(":", "-")).exists()  # removed, so the next run fetches it
    assert not (store / "manifests" / host / "team").exists()
    assert not parsers.has_model(OllamaModels().process(cli(ollama_server, "list").stdout.splitlines()), name)


def test_a_model_the_registry_lacks_is_not_found(registry, ollama_server):
    _, host = registry
    pulled = run(ollama_server, pull_command(f"{host}/library/absent:latest", ollama_server["OLLAMA_HOST"],
                                             True, ollama=OLLAMA))
    assert pulled.returncode != 0
    assert "pull model manifest: file does not exist" in pulled.stderr


def test_a_registry_with_no_other_name_answers_200_with_the_location(tmp_path, ollama_server):
    """On the LAN the registry may have one name only: the blob GET then answers 200 with a Location
    (what the client reads, resp.Location()) instead of a 307 to another host name."""
    manifest = ollama_registry.publish(tmp_path, "library/lan:latest", tiny_gguf.tiny_gguf(name="lan"),
                                       parameters=tiny_gguf.parameter_count())
    same = ollama_registry.Registry(tmp_path, blob_host="127.0.0.1")
    with in_thread(ollama_registry.serve(same), "ollama-registry-one-name") as port:
        name = f"127.0.0.1:{port}/library/lan:latest"
        pulled = run(ollama_server, pull_command(name, ollama_server["OLLAMA_HOST"], True, ollama=OLLAMA))
    assert pulled.returncode == 0, pulled.stderr
    assert parsers.has_model(OllamaModels().process(cli(ollama_server, "list").stdout.splitlines()), name)
    gets = [r for r in same.requests if r["method"] == "GET" and "/blobs/" in r["path"]]
    # the model's blob at least (its config is the tiny model's, byte for byte: maybe stored already)
    assert manifest["layers"][0]["digest"] in [r["path"].rsplit("/", 1)[-1] for r in gets]
    assert all(r["status"] == 200 and r["location"].startswith(f"http://127.0.0.1:{port}/direct/")
               for r in gets)
    assert all(r["status"] == 206 for r in same.requests if r["path"].startswith("/direct/"))
