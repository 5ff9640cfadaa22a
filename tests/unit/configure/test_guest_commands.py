"""The shell commands the configuration sends, run here for real against upstream-shaped stand-ins:
NVIDIA's key checked by fingerprint with gpg, a bad Ollama download removed. (vLLM installed with pip
from one index of the mirror: tests/integration/test_vllm_install_real.py.)"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from aimachine.catalog.schema import load_catalog, ollama_asset
from aimachine.configure.cuda import add_key_command
from aimachine.configure.ollama import unpack_command, verify_command
from aimachine.rehearsal.payloads import build_mirror
from tests.conftest import FIXTURES, ROOT


def need(tool: str) -> None:
    if shutil.which(tool) is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{tool} must be installed in CI (.ci/run installs it)")
        pytest.skip(f"{tool} is not installed here")


@pytest.fixture(scope="module")
def signing_key(tmp_path_factory) -> Iterator[tuple[Path, str]]:
    """A throw-away signing key, armored as NVIDIA serves 3bf863cc.pub, and its fingerprint; the
    gpg-agent that made it is stopped afterwards."""
    need("gpg")
    home = tmp_path_factory.mktemp("gnupg")
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key", "repo <repo@test>", "ed25519",
                    "sign", "never"], env=env, check=True, capture_output=True)
    listing = subprocess.run(["gpg", "--with-colons", "--list-keys"], env=env, check=True,
                             capture_output=True, text=True).stdout
    fingerprint = next(ln.split(":")[9] for ln in listing.splitlines() if ln.startswith("fpr:"))
    armored = home / "repo.pub"
    armored.write_bytes(subprocess.run(["gpg", "--armor", "--export", fingerprint], env=env, check=True,
                                       capture_output=True).stdout)
    yield armored, fingerprint
    subprocess.run(["gpgconf", "--kill", "all"], env=env, capture_output=True, check=False)


def run_sh(command: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GNUPGHOME": str(cwd)}
    try:
        return subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True, env=env)
    finally:
        subprocess.run(["gpgconf", "--kill", "all"], env=env, capture_output=True, check=False)


def test_the_cuda_key_with_the_published_fingerprint_is_written_dearmored(signing_key, tmp_path):
    armored, fingerprint = signing_key
    keyring = tmp_path / "cuda-archive-keyring.gpg"
    done = run_sh(add_key_command(f"file://{armored}", str(keyring), fingerprint), tmp_path)
    assert done.returncode == 0, done.stderr
    shown = subprocess.run(["gpg", "--show-keys", "--with-colons", str(keyring)], capture_output=True,
                           text=True, env={**os.environ, "GNUPGHOME": str(tmp_path)}).stdout
    assert f"fpr:::::::::{fingerprint}:" in shown
    assert not keyring.read_bytes().startswith(b"-----BEGIN")  # binary, as signed-by= wants it


def test_a_key_with_another_fingerprint_is_refused_and_leaves_nothing(signing_key, tmp_path):
    armored, _ = signing_key
    keyring = tmp_path / "cuda-archive-keyring.gpg"
    published = "EB693B3035CD5710E231E123A4B469963BF863CC"
    refused = run_sh(add_key_command(f"file://{armored}", str(keyring), published), tmp_path)
    assert refused.returncode == 1
    assert "not EB693B3035CD5710E231E123A4B469963BF863CC: refused" in refused.stdout
    assert list(tmp_path.glob("cuda-archive-keyring*")) == []


def test_an_ollama_download_that_fails_its_check_is_removed_for_the_next_run(tmp_path):
    mirror = build_mirror(tmp_path / "mirror", "0.32.0", "0.13.5")
    release = mirror / "ollama" / "v0.13.5"
    archive, sums = tmp_path / "ollama.tgz", tmp_path / "sums.txt"
    shutil.copy(release / "sha256sum.txt", sums)
    archive.write_bytes(b"truncated download")
    bad = run_sh(verify_command(str(sums), "ollama-linux-amd64.tgz", str(archive)), tmp_path)
    assert bad.returncode == 1 and "removed: the next run fetches it again" in bad.stdout
    assert not archive.exists() and not sums.exists()
    shutil.copy(release / "sha256sum.txt", sums)
    shutil.copy(release / "ollama-linux-amd64.tgz", archive)
    good = run_sh(verify_command(str(sums), "ollama-linux-amd64.tgz", str(archive)), tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr


@pytest.mark.parametrize(("version", "asset"), [
    ("0.13.5", "ollama-linux-amd64.tgz"),  # the last gzip releases
    ("0.14.0", "ollama-linux-amd64.tar.zst"),  # zstd from here on (ollama 34d0c55, #13651)
    ("0.32.15", "ollama-linux-amd64.tar.zst"),
])
def test_the_ollama_asset_follows_the_version(tmp_path, version, asset):
    assert ollama_asset(version) == asset
    mirror = build_mirror(tmp_path, "0.32.0", version)  # laid out as the release publishes it
    assert (mirror / "ollama" / f"v{version}" / asset).is_file()
    target = tmp_path / "usr-local"
    target.mkdir()
    unpack = unpack_command(str(mirror / "ollama" / f"v{version}" / asset)).replace("/usr/local", str(target))
    assert run_sh(unpack, tmp_path).returncode == 0
    assert (target / "bin" / "ollama").is_file()


def test_the_shipped_ollama_url_names_the_published_asset():
    ollama = load_catalog(ROOT / "catalog.yml").vms[0].services.ollama
    assert ollama.release_url() == ("https://github.com/ollama/ollama/releases/download/v0.32.15/"
                                    "ollama-linux-amd64.tar.zst")


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Path:
    return build_mirror(tmp_path_factory.mktemp("mirror"), "0.32.0", "0.32.15")


def test_the_stand_in_vllm_says_what_the_real_wheel_says(mirror):
    """Requires-Python and the torch pin are the real 0.32.0 wheel's (tests/fixtures/pypi), so pip treats the
    stand-in as it would the real one: Python 3.10 refused, torch 2.13.0 pulled."""
    import zipfile

    wheel = next((mirror / "simple" / "vllm").glob("*.whl"))
    stand_in = zipfile.ZipFile(wheel).read("vllm-0.32.0.dist-info/METADATA").decode()
    real = (FIXTURES / "pypi" / "vllm-0.32.0.METADATA").read_text()
    for line in ("Requires-Python: <3.15,>=3.11", "Requires-Dist: torch==2.13.0"):
        assert line in stand_in.splitlines() and line in real.splitlines()


def test_gpg_fingerprints_are_read_from_real_gpg_output(signing_key, tmp_path):
    """parse_gpg_fingerprints on what `gpg --show-keys --with-colons` prints here (the KeyringFingerprints
    fact's command), for the armored key and for the dearmored keyring file alike."""
    from aimachine.guest.parsers import parse_gpg_fingerprints

    armored, fingerprint = signing_key
    env = {**os.environ, "GNUPGHOME": str(tmp_path)}
    shown = subprocess.run(["gpg", "--show-keys", "--with-colons", str(armored)], capture_output=True,
                           text=True, env=env, check=True).stdout
    assert parse_gpg_fingerprints(shown)[0] == fingerprint
    assert parse_gpg_fingerprints("") == []


def test_venv_versions_are_read_past_log_lines():
    """VenvVersions prints NAME==VERSION lines; a library may log on stdout first (vLLM's INFO line, from
    tests/fixtures/vllm-version.info-log-on-stdout.txt), and local versions keep their `+` part."""
    from aimachine.guest.parsers import parse_pinned_versions

    logged = (FIXTURES / "vllm-version.info-log-on-stdout.txt").read_text()
    info = next(ln for ln in logged.splitlines() if ln.startswith("INFO "))
    printed = f"{info}\nvllm==0.33.0+cu130\ntorch==2.13.0+cu129\n"
    assert parse_pinned_versions(printed) == {"vllm": "0.33.0+cu130", "torch": "2.13.0+cu129"}
    assert parse_pinned_versions("") == {}
