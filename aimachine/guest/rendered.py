"""Every file the configuration writes on the VM, rendered from the catalog: a pure function of it.

The deploys put exactly these contents; the tests use the same functions to describe a converged host.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources

from aimachine.catalog import gateway as gw
from aimachine.catalog.schema import Gateway, Services, Vllm, split_bind

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
# the gateway (catalog: gateway), on the VM that runs it: LiteLLM's proxy in its venv, its config, its key
GATEWAY_USER = "litellm"
GATEWAY_VENV = "/opt/litellm/venv"
GATEWAY_SERVICE = "aimachine-gateway.service"
GATEWAY_UNIT = f"/etc/systemd/system/{GATEWAY_SERVICE}"
GATEWAY_CONFIG = "/etc/litellm/config.yaml"
GATEWAY_KEY_ENV = "/etc/litellm/master-key.env"  # root's, mode 600: systemd reads it, the service cannot
GATEWAY_STATE = "litellm"  # StateDirectory=: /var/lib/litellm, the user's home
GATEWAY_HOME = f"/var/lib/{GATEWAY_STATE}"
# LiteLLM's router (litellm 1.110.2 types/router.py): a failed call is retried on the name's other
# deployments; a deployment failing more than allowed_fails times in a minute rests for cooldown_time
GATEWAY_RETRIES = 2
GATEWAY_ALLOWED_FAILS = 1
GATEWAY_COOLDOWN_S = 30


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


def gateway_config(gateway: Gateway) -> ManagedFile:
    """LiteLLM's proxy config: the routes the catalog derives, the router's strategy and retries, and the
    master key by reference only (`os.environ/LITELLM_MASTER_KEY`: the unit's EnvironmentFile holds it)."""
    import yaml  # as jinja2: only when a file is rendered

    config = {
        "model_list": gw.model_list(gateway.routes),
        "router_settings": {
            "routing_strategy": gateway.routing_strategy,
            "num_retries": GATEWAY_RETRIES,
            "allowed_fails": GATEWAY_ALLOWED_FAILS,
            "cooldown_time": GATEWAY_COOLDOWN_S,
        },
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
    }
    head = ("# Managed by aimachine (catalog: gateway; the routes come from every VM's engines). Local\n"
            "# changes are overwritten on the next run. The key is not here: LITELLM_MASTER_KEY comes\n"
            f"# from {GATEWAY_KEY_ENV}.\n")
    body = yaml.safe_dump(config, sort_keys=False, default_flow_style=False, width=1000)
    return ManagedFile(GATEWAY_CONFIG, head + body)


def gateway_unit(gateway: Gateway) -> ManagedFile:
    host, port = split_bind(gateway.bind)
    return ManagedFile(GATEWAY_UNIT, template(
        "aimachine-gateway.service.j2", user=GATEWAY_USER, key_env=GATEWAY_KEY_ENV, home=GATEWAY_HOME,
        state_dir=GATEWAY_STATE, venv=GATEWAY_VENV, config=GATEWAY_CONFIG, host=host, port=port,
        health_url=probe_url(gateway.bind, "/health/liveliness")))


def gateway_files(gateway: Gateway) -> list[ManagedFile]:
    """What the gateway's VM gets besides the key: the config and the unit."""
    return [gateway_config(gateway), gateway_unit(gateway)]


def gateway_key_env(key: str) -> ManagedFile:
    """The EnvironmentFile with the master key (gateway.read_master_key has checked it: no spaces, quotes,
    backslash, $ or %, so systemd reads it as written). Root's, 600; never printed, never a golden file."""
    return ManagedFile(GATEWAY_KEY_ENV, f"LITELLM_MASTER_KEY={key}\n", mode="600")
