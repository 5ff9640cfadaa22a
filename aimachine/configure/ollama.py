"""ollama: the pinned release archive (sha256-checked) in /usr/local, its own user, unit + drop-in,
models pulled when missing. Never the install.sh script (it would add NVIDIA's driver packages).

The archive's name follows the version (`ollama-linux-amd64.tgz` up to 0.13.x, `.tar.zst` from 0.14.0);
a download that fails its check is removed, so the next run fetches it again."""

from __future__ import annotations

import posixpath
import shlex

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files, server

from aimachine.catalog.gpu_budget import overcommit
from aimachine.catalog.schema import Services
from aimachine.configure.common import download_cache, ensure_packages
from aimachine.configure.facts import OllamaModels, OllamaVersion
from aimachine.configure.launcher import NOTE
from aimachine.configure.services import AroundRestart, managed_service, service_user
from aimachine.guest import parsers
from aimachine.guest.apt_calls import DOWNLOAD_PACKAGES
from aimachine.guest.rendered import ollama_files, probe_url


def verify_command(sums: str, filename: str, archive: str) -> str:
    """Check ARCHIVE against FILENAME's line in a sha256sum.txt; a missing line fails with a remedy, a
    mismatch removes both files (a bad cached download would otherwise fail every later run)."""
    files_ = f"{shlex.quote(archive)} {shlex.quote(sums)}"
    return (
        f'want=$(awk \'$2 == "./{filename}" || $2 == "{filename}" {{print $1}}\' {shlex.quote(sums)}); '
        f'[ -n "$want" ] || {{ rm -f {files_}; echo \'no sha256 for {filename} in the release '
        "sha256sum.txt: check services.ollama.url and version, or set services.ollama.sha256'; exit 1; }; "
        f'echo "$want  {archive}" | sha256sum -c --strict - || {{ rm -f {files_}; '
        "echo 'the download did not match its sha256 and was removed: the next run fetches it again'; "
        "exit 1; }"
    )


def unpack_command(archive: str) -> str:
    """tar with the archive's compression: gzip for .tgz/.tar.gz, zstd for .tar.zst."""
    flag = "--zstd" if archive.endswith(".zst") else "--gzip"
    return f"tar {flag} -xf {shlex.quote(archive)} -C /usr/local"


def install_release(url: str, version: str, sha256: str | None) -> OperationMeta:
    """Download (sha256-checked) and unpack; the old lib/ollama goes first so no stale runner stays."""
    filename = posixpath.basename(url)
    archive = f"{download_cache()}/ollama-{version}-{filename}"
    check = []
    if not sha256:  # the release's own sha256sum.txt, fetched beside the tarball, checked before unpacking
        sums = f"{archive}.sha256sum.txt"
        files.download(
            name=f"Download Ollama {version} sha256sum.txt",
            src=posixpath.join(posixpath.dirname(url), "sha256sum.txt"),
            dest=sums,
        )
        check = [verify_command(sums, filename, archive)]
    source = f"sha256 {sha256[:12]}... from the catalog" if sha256 else "checked against sha256sum.txt"
    files.download(name=f"Download Ollama {version} ({source})", src=url, dest=archive, sha256sum=sha256)
    return server.shell(
        name=f"Unpack Ollama {version} into /usr/local",
        commands=[
            *check,
            f"rm -rf /usr/local/lib/ollama && {unpack_command(archive)}",
        ],
    )


OLLAMA = "/usr/local/bin/ollama"
# The models Ollama held when vLLM's restart began: restored once vLLM serves (tmpfs: gone at boot, where
# Ollama starts after vLLM anyway)
UNLOADED = "/run/aimachine/ollama-unloaded"


def _loaded(bind: str) -> str:
    """The names `ollama ps` lists (none when the server is down or Ollama not installed yet)."""
    return (f"OLLAMA_HOST={shlex.quote(bind)} {OLLAMA} ps 2>/dev/null "
            "| awk 'NR > 1 && $1 != \"\" {print $1}'")


def unload_command(bind: str) -> str:
    """Unload every model Ollama holds and wait until its memory is free, remembering the names.

    vLLM's V1 worker refuses to start when less than total x gpu_memory_utilization is free, and memory
    freed by another process during its profiling fails it too (vllm-project/vllm#20305): so Ollama
    lets go before vLLM restarts, not whenever its keep-alive ends."""
    host_env = f"OLLAMA_HOST={shlex.quote(bind)}"
    return (
        f"mkdir -p {posixpath.dirname(UNLOADED)} && {_loaded(bind)} > {UNLOADED}; "
        f'while read -r m; do {host_env} {OLLAMA} stop "$m" || exit 1; done < {UNLOADED}; '
        f'for i in $(seq 60); do [ -z "$({_loaded(bind)})" ] && break; sleep 1; done; '
        f'[ -z "$({_loaded(bind)})" ] || {{ echo "Ollama still holds a model after 60 s: vLLM would not '
        'find its share of the GPU free"; exit 1; }; '
        f'echo "unloaded: $(tr "\\n" " " < {UNLOADED})"'
    )


def restore_command(bind: str) -> str:
    """Load again what unload_command unloaded (an empty prompt loads a model: Ollama's /api/generate)."""
    url = probe_url(bind, "/api/generate")
    return (
        f"[ -s {UNLOADED} ] || exit 0; rc=0; "
        f"while read -r m; do curl -fsS -o /dev/null -m 600 {url} "
        "-d \"$(printf '{\"model\": \"%s\"}' \"$m\")\" "
        f'&& echo "loaded again: $m" || {{ echo "could not load $m again"; rc=1; }}; done < {UNLOADED}; '
        f"rm -f {UNLOADED}; exit $rc"
    )


def make_room_for_vllm(services: Services) -> AroundRestart | None:
    """Ollama's models leave the GPU before vLLM restarts and come back once it serves (None: no
    Ollama on this VM). A first start and a run that restarts nothing do not touch Ollama."""
    if not services.ollama.enabled:
        return None
    bind = services.ollama.bind
    return AroundRestart(
        before=("Unload Ollama's models before vLLM restarts (vLLM needs its share of the GPU free)",
                unload_command(bind)),
        after=("Load Ollama's models again (vLLM serves)", restore_command(bind)),
    )


def pull_command(model: str, bind: str, insecure: bool = False, ollama: str = OLLAMA) -> str:
    """Wait up to 60 s for the server at BIND, then `ollama pull MODEL`; INSECURE adds --insecure, which
    makes every request of the pull plain http (0.32.15 server/images.go makeRequest): only for a
    registry the catalog lists in services.ollama.insecure_registries."""
    flag = " --insecure" if insecure else ""
    return (
        f"export OLLAMA_HOST={shlex.quote(bind)}; "
        f"for i in $(seq 60); do {ollama} list >/dev/null 2>&1 && break; "
        "sleep 1; done; "
        f"{ollama} pull{flag} {shlex.quote(model)}"
    )


@deploy("ollama")
def ollama() -> None:
    cfg = host.data.vm.services.ollama
    ensure_packages(DOWNLOAD_PACKAGES, "download tools")
    service_user("ollama", "/usr/share/ollama", shell="/bin/false")
    unpacked = ()
    if host.get_fact(OllamaVersion) != cfg.version:
        unpacked = (install_release(cfg.release_url(), cfg.version, cfg.sha256),)
    files.directory(
        name=f"Model store {cfg.models_dir}", path=cfg.models_dir, user="ollama", group="ollama", mode="755"
    )
    managed_service("ollama", ollama_files(host.data.vm.services), cfg.enabled, also_changed=unpacked)
    if not cfg.enabled:
        return
    present = host.get_fact(OllamaModels, bind=cfg.bind)
    if warning := overcommit(host.data.vm, {m: size for m, size in present.items() if size is not None}):
        logger.warning(NOTE + warning)
    for model in cfg.models:
        if not parsers.has_model(present, model):
            insecure = cfg.pulls_insecure(model)
            server.shell(
                name=f"Pull model {model}" + (" (plain http: services.ollama.insecure_registries)"
                                              if insecure else ""),
                commands=[pull_command(model, cfg.bind, insecure)],
            )
