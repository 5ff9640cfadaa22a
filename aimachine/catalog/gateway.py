"""The gateway: LiteLLM's proxy on one VM of the catalog, one OpenAI-compatible endpoint with a key in front
of every VM's engines.

What it changes is derived here, at catalog load, from the `gateway` section and the VMs:
- its routes: each VM's vLLM model (its served name) and Ollama models become LiteLLM's `model_list`; the
  same name on several VMs is one name with several deployments (load-balanced by routing_strategy);
- the VMs it fronts: on every VM but its own, the engines bound to loopback bind the VM's static address
  instead (same port), and that VM's firewall admits the gateway's VM (and the admin network only with
  admin_access). The gateway's own VM keeps its engines where they are and reaches them on loopback.

Without a `gateway.vm` nothing changes. Pure: catalog objects in, catalog objects out (schema.py calls
`apply`; it is imported by schema, so it reads the VMs by their attributes). `read_master_key` is the one
reader of the key file, at configure time and in `catalog validate`, never at load.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aimachine.catalog import ollama_names
from aimachine.catalog.checks import split_bind
from aimachine.catalog.yamlsrc import format_path, load

if TYPE_CHECKING:  # schema imports this module: its types are for the reader only
    from aimachine.catalog.schema import Catalog, Gateway, Vm

LITELLM_VERSION = "1.110.2"  # PyPI's newest 1.110.x (tests/fixtures/pypi/litellm-1.110.2.METADATA)
LITELLM_PYTHON = "3.12"  # its venv's: Ubuntu 24.04's python3; the wheel says Requires-Python >=3.10, <3.16
# litellm[proxy]==1.110.2 cannot be installed from PyPI: its proxy extra pins three releases PyPI lacks
# (litellm-proxy==1.110.2: no such project; litellm-proxy-extras==0.4.114.post1: newest 0.4.110;
# litellm-enterprise==0.1.83.post1: newest 0.1.83; 1.110.0 and 1.110.1 pin the same). The proxy is in the
# litellm wheel itself (litellm/proxy, the `litellm` command), imports litellm_enterprise only in a try and
# litellm_proxy_extras only for its database migrations (no database here): so the gateway gets litellm and
# the rest of that extra, as listed here (its METADATA for Python 3.12 on Linux:
# tests/unit/catalog/test_pins.py), resolved as aimachine/rehearsal/engines/litellm-1.110.2.txt locks it.
UNPUBLISHED_PROXY_PINS = ("litellm-proxy", "litellm-proxy-extras", "litellm-enterprise")
PROXY_REQUIREMENTS = (
    "gunicorn>=23.0.0,<24.0", "uvicorn>=0.33.0,<1.0", "granian>=2.7.4,<3.0", "uvloop>=0.22.1,<1.0",
    "fastapi>=0.136.3,<1.0", "starlette>=1.0.1,<2.0", "backoff>=2.2.1,<3.0", "pyyaml>=6.0.3,<7.0",
    "rq>=2.7.0,<3.0", "orjson>=3.11.6,<4.0", "hiredis>=3.0.0,<4.0", "apscheduler>=3.11.2,<4.0",
    "fastapi-sso>=0.19.0,<1.0", "pyjwt>=2.13.0,<3.0", "python-multipart>=0.0.27,<1.0",
    "cryptography>=49.0.0,<51.0", "pynacl>=1.6.2,<2.0", "websockets>=15.0.1,<16.0", "boto3>=1.43.117,<2.0",
    "azure-identity>=1.25.2,<2.0", "azure-storage-blob>=12.28.0,<13.0", "mcp>=2.3.0,<3", "httpx2>=2.10.0,<3",
    "pydantic>=2.12.0,<3", "restrictedpython>=8.5,<9.0", "rich>=13.9.4,<14.0", "inquirerpy>=0.3.4,<1.0",
    "tomlkit>=0.13.3,<1.0", "polars>=1.38.1,<2.0", "soundfile>=0.12.1,<1.0", "pyroscope-io>=0.8.16,<1.0",
    "expression>=5.6.0,<6.0", "backports-zstd>=1.0.0,<2.0", "semver>=3.0.4,<4",
)


def litellm_requirements(version: str) -> tuple[str, ...]:
    """What pip installs for the gateway: for LITELLM_VERSION, litellm and its proxy extra less the pins
    PyPI lacks (above); for another version the catalog names, `litellm[proxy]==VERSION` as LiteLLM says."""
    if version == LITELLM_VERSION:
        return (f"litellm=={version}", *PROXY_REQUIREMENTS)
    return (f"litellm[proxy]=={version}",)


# LiteLLM 1.110.2's router strategies (litellm/types/litellm_params.py RoutingStrategyName; each picks
# among the deployments of one model name). Left out: cost-based-routing (the engines cost nothing, so it
# cannot tell them apart), usage-based-routing (marked deprecated in its router settings,
# types/management_endpoints/router_settings_endpoints.py: -v2 replaces it), lar1 (no description in that
# table, undocumented)
ROUTING_STRATEGIES = ("simple-shuffle", "least-busy", "latency-based-routing", "usage-based-routing-v2")
# LiteLLM's providers: hosted_vllm (an OpenAI-compatible vLLM; api_base ends in /v1, chat/completions is
# appended), ollama_chat (Ollama's /api/chat; api_base is the server's root)
VLLM_PROVIDER = "hosted_vllm"
OLLAMA_PROVIDER = "ollama_chat"
SSH_PORT = 22

Problem = tuple[tuple, str, str, str]  # (field path, found, allowed, hint), as schema's collector takes them


@dataclass(frozen=True)
class Fronted:
    """How the gateway reaches a VM's engines (set on each VM it fronts)."""

    gateway_vm: str
    gateway_address: str | None  # None: the gateway runs on this VM and reaches its engines on loopback
    admin_access: bool  # the admin network reaches the engines too


@dataclass(frozen=True)
class Deployment:
    vm: str
    engine: str  # "vllm" or "ollama"
    model: str  # LiteLLM's litellm_params.model: PROVIDER/NAME
    api_base: str


@dataclass(frozen=True)
class Route:
    name: str  # what clients ask for: the model name of the gateway's /v1/models
    deployments: tuple[Deployment, ...]


def serves(vm: Vm) -> bool:
    """Does VM serve a model the gateway can route to?"""
    services = vm.services
    return services.vllm.enabled or (services.ollama.enabled and bool(services.ollama.models))


def rebind(bind: str, address: str) -> str:
    """A loopback BIND moved to ADDRESS, same port; any other bind (a wildcard, an address) as it is."""
    host, port = split_bind(bind)
    return f"{address}:{port}" if ipaddress.ip_address(host).is_loopback else bind


def _reach(bind: str, address: str | None) -> str:
    """Where the gateway sends requests for an engine bound to BIND on a VM at ADDRESS (None: its own VM)."""
    host, port = split_bind(bind)
    ip = ipaddress.ip_address(host)
    if address is None:  # the gateway's own VM: a wildcard answers on loopback too
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    elif ip.is_unspecified:
        host = address
    return f"{f'[{host}]' if ':' in host else host}:{port}"


def _offers(vm: Vm) -> list[tuple[str, str, str]]:
    """(engine, route name, LiteLLM model) for each model VM serves."""
    services, found = vm.services, []
    if services.vllm.enabled:  # the unit serves it as --served-model-name MODEL
        found.append(("vllm", services.vllm.model, f"{VLLM_PROVIDER}/{services.vllm.model}"))
    if services.ollama.enabled:
        for model in services.ollama.models:
            name = ollama_names.listed_as(model)  # llama3.2 and llama3.2:latest are one model
            found.append(("ollama", name, f"{OLLAMA_PROVIDER}/{name}"))
    return found


def derive(vms: list[Vm], gateway_vm: str) -> list[Route]:
    """The routes, in catalog order. vLLM's and Ollama's names never meet: Ollama's carry a tag
    (`llama3.2:3b`), a Hugging Face id has no `:`."""
    groups: dict[str, list[Deployment]] = {}
    for vm in vms:
        if not serves(vm):
            continue
        address = None if vm.name == gateway_vm else vm.static_address()
        for engine, name, model in _offers(vm):
            bind = getattr(vm.services, engine).bind
            suffix = "/v1" if engine == "vllm" else ""
            deployments = groups.setdefault(name, [])
            if all(d.vm != vm.name for d in deployments):  # llama3.2 and llama3.2:latest: one deployment
                api_base = f"http://{_reach(bind, address)}{suffix}"
                deployments.append(Deployment(vm.name, engine, model, api_base))
    return [Route(name, tuple(d)) for name, d in groups.items()]


def apply(gateway: Gateway, vms: list[Vm]) -> tuple[list[Problem], list[Vm], Gateway]:
    """The checked catalog with the gateway applied: the fronted VMs rebound and marked, the gateway's VM
    given the gateway with its routes. Problems name the field to fix; with any, nothing is applied."""
    if gateway.vm is None:
        return [], vms, gateway
    names = [vm.name for vm in vms]
    if gateway.vm not in names:
        near = difflib.get_close_matches(gateway.vm, names, n=1)
        return [(("gateway", "vm"), repr(gateway.vm), "the name of a VM in vms: " + ", ".join(names),
                 f"did you mean {near[0]!r}?" if near else "")], vms, gateway
    problems: list[Problem] = []
    if gateway.master_key_file is None:
        problems.append((("gateway", "master_key_file"), "nothing (missing)",
                         "a path to the file that holds the key",
                         "the gateway needs a master key: put one line (e.g. sk- and 48 hex digits) in a "
                         "file only you can read (chmod 600) and name it here"))
    here = names.index(gateway.vm)
    host = vms[here]
    fronted = [i for i, vm in enumerate(vms) if serves(vm)]
    remote = [i for i in fronted if i != here]
    for i in remote:
        vm = vms[i]
        if vm.static_address() is None:
            problems.append((("vms", i, "ipv4"), repr(vm.ipv4),
                             "a static IPv4 address with its prefix, e.g. 192.168.0.141/24",
                             f"the gateway on {gateway.vm} reaches this VM's engines at its address, which "
                             "must not move with a DHCP lease"))
        if not vm.firewall.enabled:
            problems.append((("vms", i, "firewall", "enabled"), "false (a boolean)", "true",
                             "the gateway fronts this VM: its engines bind its address, and without the "
                             "firewall anyone on the network reaches them with no key"))
    if remote and host.static_address() is None:
        problems.append((("vms", here, "ipv4"), repr(host.ipv4),
                         "a static IPv4 address with its prefix, e.g. 192.168.0.140/24",
                         f"it runs the gateway: the VMs it fronts ({', '.join(vms[i].name for i in remote)}) "
                         "admit it by its address"))
    problems += _port_problems(gateway, host)
    if problems:
        return problems, vms, gateway
    out = list(vms)
    for i in fronted:
        vm = vms[i]
        address = None if i == here else vm.static_address()
        services = vm.services
        if address is not None:
            services = dataclasses.replace(
                services, vllm=dataclasses.replace(services.vllm, bind=rebind(services.vllm.bind, address)),
                ollama=dataclasses.replace(services.ollama, bind=rebind(services.ollama.bind, address)))
        out[i] = dataclasses.replace(vm, services=services, fronted=Fronted(
            gateway.vm, None if i == here else host.static_address(), gateway.admin_access))
    routes = derive(out, gateway.vm)
    if not routes:
        return [(("gateway", "vm"), repr(gateway.vm), "a gateway with a model to route to",
                 "no VM of the catalog serves a model: enable vLLM or list Ollama models")], vms, gateway
    gateway = dataclasses.replace(gateway, routes=tuple(routes))
    out[here] = dataclasses.replace(out[here], runs_gateway=gateway)
    return [], out, gateway


def _port_problems(gateway: Gateway, host: Vm) -> list[Problem]:
    port = split_bind(gateway.bind)[1]
    taken = {SSH_PORT: "SSH"}
    for engine in ("vllm", "ollama"):
        service = getattr(host.services, engine)
        if service.enabled:
            taken[split_bind(service.bind)[1]] = f"services.{engine} on {host.name}"
    if port in taken:
        return [(("gateway", "bind"), repr(gateway.bind), f"a port other than {', '.join(map(str, taken))}",
                 f"{taken[port]} listens on {port}")]
    return []


def model_list(routes: tuple[Route, ...] | list[Route]) -> list[dict[str, Any]]:
    """LiteLLM's model_list: one entry per deployment, the deployments of a name under that name."""
    return [{"model_name": route.name, "litellm_params": {"model": d.model, "api_base": d.api_base}}
            for route in routes for d in route.deployments]


def url(gateway: Gateway, vm: Vm, address: str | None = None) -> str:
    """The gateway's base URL as a client on the network writes it (for a wildcard bind the VM's static
    address, else ADDRESS, the one it was found at; the word ADDRESS where none is known)."""
    host, port = split_bind(gateway.bind)
    if ipaddress.ip_address(host).is_unspecified:
        host = vm.static_address() or address or "ADDRESS"
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/v1"


def summary(gateway: Gateway, vm: Vm) -> dict[str, Any]:
    """The gateway as `catalog show` prints it: where it answers, how it routes, and each route."""
    return {
        "url": url(gateway, vm),
        "bind": gateway.bind,
        "allow_from": gateway.allow_from or vm.firewall.admin_network,
        "master_key_file": gateway.master_key_file,
        "routing_strategy": gateway.routing_strategy,
        "admin_access": gateway.admin_access,
        "litellm_version": gateway.litellm_version,
        "routes": {route.name: [{"vm": d.vm, "model": d.model, "api_base": d.api_base}
                                for d in route.deployments] for route in gateway.routes},
    }


def fronted_summary(fronted: Fronted) -> dict[str, Any]:
    return dataclasses.asdict(fronted)


class KeyFileError(ValueError):
    """The master key file cannot be used: the message says why, never what the file holds."""


def read_master_key(path: str) -> str:
    """The gateway's master key from PATH (~ expanded): one line of printable characters, no spaces or
    quotes (it goes into a systemd EnvironmentFile), at least 16; the file readable by its owner alone."""
    full = os.path.expanduser(path)
    try:
        info = os.stat(full)
    except FileNotFoundError:
        raise KeyFileError(f"{full} does not exist (write a key into it: "
                           f"umask 077; printf 'sk-%s\\n' \"$(openssl rand -hex 24)\" > {full})") from None
    except OSError as exc:
        raise KeyFileError(f"{full}: cannot read: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise KeyFileError(f"{full} is not a file")
    if info.st_mode & 0o077:
        raise KeyFileError(f"{full} is readable by others (mode {stat.S_IMODE(info.st_mode):o}): "
                           f"chmod 600 {full}")
    try:
        text = Path(full).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{full}: cannot read: {exc}") from None
    lines = text.splitlines()
    key = lines[0].strip() if len(lines) == 1 else ""
    if len(key) < 16 or any(c.isspace() or c in "\"'\\$%" or not c.isprintable() for c in key):
        raise KeyFileError(f"{full} must hold one line: the key, at least 16 characters without spaces, "
                           "quotes, \\, $ or % (e.g. sk- and 48 hex digits)")
    return key


def key_file_problems(catalog: Catalog) -> list[str]:
    """The gateway's key file checked as configure reads it, as a catalog problem (file, line, field):
    `catalog validate` fails where the configuration would."""
    gateway = catalog.gateway
    if gateway.vm is None or gateway.master_key_file is None:
        return []
    try:
        read_master_key(gateway.master_key_file)
    except KeyFileError as err:
        where = ("gateway", "master_key_file")
        src = load(Path(catalog.path).read_text(encoding="utf-8"))
        return [f"{catalog.path}:{src.line(where)}: {format_path(where)}: {err}"]
    return []
