"""Every file the configuration writes on the VM, rendered from the catalog: a pure function of it.

The deploys put exactly these contents; the tests use the same functions to describe a converged host.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources

from aimachine.catalog.schema import Services, Vllm, split_bind

VLLM_VENV = "/opt/vllm/venv"
VLLM_UNIT = "/etc/systemd/system/vllm.service"
OLLAMA_UNIT = "/etc/systemd/system/ollama.service"
OLLAMA_DROPIN = "/etc/systemd/system/ollama.service.d/aimachine.conf"
SSHD_DROPIN = "/etc/ssh/sshd_config.d/50-aimachine.conf"
CUDA_PROFILE = "/etc/profile.d/cuda.sh"
CUDA_PIN = "/etc/apt/preferences.d/aimachine-cuda-driver-pin"
CUDA_KEYRING = "/usr/share/keyrings/cuda-archive-keyring.gpg"  # the path NVIDIA's cuda-keyring uses
CUDA_SOURCE = "/etc/apt/sources.list.d/nvidia-cuda.list"
GPU_STATUS = "/usr/local/bin/gpu-status"
APT_LOCK_CONF = "/etc/apt/apt.conf.d/80aimachine-lock-timeout"
APT_NO_RECOMMENDS = "/etc/apt/aimachine-no-recommends.conf"  # APT_CONFIG for ubuntu-drivers
PERSISTENCED_DROPIN = "/etc/systemd/system/nvidia-persistenced.service.d/aimachine.conf"
# the model fetch (aimachine/onvm/fetch_models.py): its plan, the program, its unit, its state
MODELS_PLAN = "/etc/aimachine/models.json"
MODELS_FETCHER = "/usr/local/lib/aimachine/fetch-models.py"
MODELS_SERVICE = "aimachine-models.service"
MODELS_UNIT = f"/etc/systemd/system/{MODELS_SERVICE}"
MODELS_STATE = "/var/lib/aimachine/models"
MODELS_STATUS = f"{MODELS_STATE}/status.json"


@dataclass(frozen=True)
class ManagedFile:
    path: str
    content: str
    mode: str = "644"


def template(name: str, **context: object) -> str:
    text = resources.files("aimachine").joinpath("templates", name).read_text(encoding="utf-8")
    if not name.endswith(".j2"):
        return text
    import jinja2  # only when a template is rendered: the CLI's start stays light

    return jinja2.Template(text, undefined=jinja2.StrictUndefined, keep_trailing_newline=True).render(
        **context
    )


def probe_url(bind: str, path: str) -> str:
    """Where a client on the VM itself reaches a service bound to BIND (a wildcard on loopback): the vLLM
    unit's health wait and verify's health check."""
    host, port = split_bind(bind)
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://{f'[{host}]' if ':' in host else host}:{port}{path}"


_SYSTEMD_PLAIN = re.compile(r"[A-Za-z0-9_@+=:,./-]+")


def systemd_word(token: str) -> str:
    """One ExecStart word as systemd reads it: plain, or double-quoted with its escapes; `%` and `$` are
    doubled so systemd expands no specifier or variable in it (systemd.service: Command lines)."""
    if _SYSTEMD_PLAIN.fullmatch(token):
        return token
    escaped = token.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'


def vllm_unit(vllm: Vllm) -> ManagedFile:
    host, port = split_bind(vllm.bind)
    return ManagedFile(
        VLLM_UNIT,
        template(
            "vllm.service.j2",
            model=vllm.model,
            host=host,
            port=port,
            venv=VLLM_VENV,
            cache_dir=vllm.cache_dir,
            gpu_memory_utilization=vllm.gpu_memory_utilization,
            max_model_len=vllm.max_model_len,
            extra_args="".join(" " + systemd_word(a) for a in vllm.extra_args),
            health_url=probe_url(vllm.bind, "/health"),
        ),
    )


def hub_cache(vllm: Vllm) -> str:
    """huggingface_hub's cache under the unit's HF_HOME."""
    return f"{vllm.cache_dir}/huggingface/hub"


def models_plan(vllm: Vllm) -> str:
    """What the VM's fetcher downloads, as the JSON it reads (stable text: its hash names the run)."""
    plan = {"status": MODELS_STATUS, "state_dir": MODELS_STATE, "models": [
        {"kind": "hf", "endpoint": vllm.hf_endpoint, "repo": vllm.model, "revision": vllm.revision,
         "hub_cache": hub_cache(vllm), "user": "vllm"}]}
    return json.dumps(plan, indent=1, sort_keys=True) + "\n"


def model_fetch_files(vllm: Vllm) -> list[ManagedFile]:
    fetcher = resources.files("aimachine").joinpath("onvm", "fetch_models.py").read_text(encoding="utf-8")
    return [ManagedFile(MODELS_PLAN, models_plan(vllm)),
            ManagedFile(MODELS_FETCHER, fetcher, mode="755"),
            ManagedFile(MODELS_UNIT, template("aimachine-models.service.j2", fetcher=MODELS_FETCHER,
                                              plan=MODELS_PLAN, model=vllm.model, cache_dir=vllm.cache_dir,
                                              state_dir=MODELS_STATE))]


def ollama_files(services: Services) -> list[ManagedFile]:
    """With vLLM enabled on the same card, Ollama starts after vllm.service is serving."""
    ollama = services.ollama
    return [
        ManagedFile(OLLAMA_UNIT, template("ollama.service.j2", models_dir=ollama.models_dir,
                                          after_vllm=services.vllm.enabled)),
        ManagedFile(
            OLLAMA_DROPIN,
            template(
                "ollama-override.conf.j2",
                bind=ollama.bind,
                models_dir=ollama.models_dir,
                keep_alive=ollama.keep_alive,
                max_loaded_models=ollama.max_loaded_models,
                num_parallel=ollama.num_parallel,
            ),
        ),
    ]


def sshd_dropin() -> ManagedFile:
    return ManagedFile(SSHD_DROPIN, template("sshd-aimachine.conf"))


def cuda_files() -> list[ManagedFile]:
    return [
        ManagedFile(CUDA_PROFILE, template("cuda.sh")),
        ManagedFile(CUDA_PIN, template("cuda-driver-pin.pref")),
    ]


def apt_files() -> list[ManagedFile]:
    return [ManagedFile(APT_LOCK_CONF, template("apt-lock-timeout.conf")),
            ManagedFile(APT_NO_RECOMMENDS, template("apt-no-recommends.conf"))]


def persistenced_dropin() -> ManagedFile:
    return ManagedFile(PERSISTENCED_DROPIN, template("nvidia-persistenced.conf"))


def cuda_source(repo_url: str) -> ManagedFile:
    """The repository, trusted for its own key only (signed-by), not for the whole archive."""
    return ManagedFile(CUDA_SOURCE, template("nvidia-cuda.list.j2", keyring=CUDA_KEYRING, url=repo_url))


def gpu_status_script() -> ManagedFile:
    return ManagedFile(GPU_STATUS, template("gpu-status.sh"), mode="755")
