"""ollama: the pinned release tarball (sha256-checked) in /usr/local, its own user, unit + drop-in,
models pulled when missing. Never the install.sh script (it would add NVIDIA's driver packages)."""

from __future__ import annotations

import posixpath
import shlex

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, server

from deploy.configure import parsers
from deploy.configure.common import ensure_packages, stop
from deploy.configure.facts import OllamaModels, OllamaVersion, RemoteText
from deploy.configure.rendered import ollama_files
from deploy.configure.services import managed_service, service_user

CACHE = "/var/cache/aimachine"


def release_url(template: str, version: str) -> str:
    return template.format(version=version)


@deploy("ollama")
def ollama() -> None:
    cfg = host.data.vm.services.ollama
    ensure_packages(["curl", "zstd", "ca-certificates"], "download tools")
    service_user("ollama", "/usr/share/ollama", shell="/bin/false")
    unpacked = ()
    if host.get_fact(OllamaVersion) != cfg.version:
        url = release_url(cfg.url, cfg.version)
        filename = posixpath.basename(url)
        sha256 = cfg.sha256
        if not sha256:
            sums_url = posixpath.join(posixpath.dirname(url), "sha256sum.txt")
            sha256 = parsers.checksum_for(host.get_fact(RemoteText, url=sums_url) or "", filename)
            if not sha256:
                stop(f"no sha256 for {filename} in {sums_url}: set services.ollama.sha256 in the catalog")
                return
        archive = f"{CACHE}/ollama-{cfg.version}-{filename}"
        files.directory(name=f"Download cache {CACHE}", path=CACHE, mode="755")
        files.download(
            name=f"Download Ollama {cfg.version} (sha256 {sha256[:12]}...)",
            src=url,
            dest=archive,
            sha256sum=sha256,
        )
        unpacked = (
            server.shell(
                name=f"Unpack Ollama {cfg.version} into /usr/local",
                commands=[
                    f"rm -rf /usr/local/lib/ollama && tar --zstd -xf {shlex.quote(archive)} -C /usr/local"
                ],
            ),
        )
    files.directory(
        name=f"Model store {cfg.models_dir}", path=cfg.models_dir, user="ollama", group="ollama", mode="755"
    )
    managed_service("ollama", ollama_files(cfg), cfg.enabled, also_changed=unpacked)
    if not cfg.enabled:
        return
    present = host.get_fact(OllamaModels, bind=cfg.bind)
    for model in cfg.models:
        if not parsers.has_model(present, model):
            server.shell(
                name=f"Pull model {model}",
                commands=[
                    f"export OLLAMA_HOST={shlex.quote(cfg.bind)}; "
                    "for i in $(seq 60); do /usr/local/bin/ollama list >/dev/null 2>&1 && break; "
                    "sleep 1; done; "
                    f"/usr/local/bin/ollama pull {shlex.quote(model)}"
                ],
            )
