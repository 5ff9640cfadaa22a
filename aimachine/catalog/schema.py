"""The catalog: schema, defaults, and validation that reports every problem with its line.

The dataclasses below are the schema: each field's metadata holds the check for its value, and
its default (if any) makes it optional. `load_catalog` returns typed objects or raises
CatalogError listing every problem, never just the first.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aimachine.catalog import checks as chk
from aimachine.catalog import gateway as gw
from aimachine.catalog import ollama_names, vllm_flags
from aimachine.catalog.yamlsrc import Source, YamlSyntaxError, format_path, load

split_bind = chk.split_bind  # its home is checks.py, beside ip_port; imported from here as before

DEFAULT_CATALOG = "catalog.yml"
_REQUIRED = dataclasses.MISSING


def spec(check: chk.Check, default: Any = _REQUIRED, doc: str = "") -> Any:
    """A schema field: `check` validates the YAML value; no default means required."""
    meta = {"check": check, "doc": doc}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def section(doc: str = "") -> Any:
    """A nested mapping whose schema is the field's dataclass type."""
    return field(default=None, metadata={"section": True, "doc": doc})


OLLAMA_ASSET_STEM = "ollama-linux-amd64"
ARCHIVE_SUFFIXES = (".tar.zst", ".tgz", ".tar.gz")


def ollama_asset(version: str) -> str:
    """The Linux asset's name for an Ollama release: gzip up to 0.13.x, zstd from 0.14.0 on
    (ollama commit 34d0c55, #13651; the release workflow's artifact names)."""
    release = tuple(int(x) for x in re.findall(r"\d+", version)[:3])
    return OLLAMA_ASSET_STEM + (".tar.zst" if release >= (0, 14, 0) else ".tgz")


# Keys older catalogs had, with what to do now: reported as such, not as a typo.
RETIRED = {
    ("Nvidia", "cuda_keyring_sha256"): "remove it: the CUDA repository is now verified by its signing key's "
                                       "fingerprint, so no checksum is needed",
    ("Nvidia", "cuda_keyring_version"): "remove it: the cuda-keyring package is no longer used (the "
                                        "repository is added by its signing key)",
    ("Vllm", "torch_index_url"): "remove it: vLLM's wheels need PyPI's torch (CUDA 13); an extra index makes "
                                 "pip take a CUDA 12 build and vLLM then fails on libcudart.so.13",
}


# ---- schema -----------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Storages:
    iso: str = spec(chk.proxmox_id, "local", "storage holding the cloud image")
    snippets: str = spec(chk.proxmox_id, "local", "storage with 'snippets' content for cloud-init")


@dataclass(frozen=True, kw_only=True)
class Proxmox:
    endpoint: str = spec(chk.https_url, doc="API base URL, without /api2/json")
    node: str = spec(chk.proxmox_id, doc="node that runs the VMs")
    ssh_user: str = spec(chk.unix_user, "root", "SSH user on the node (snippets, image import)")
    auth: str = spec(chk.choice("api-token", "root-password"), "api-token",
                     "api-token: GPU by PCI mapping; root-password: raw PCI id allowed")
    storages: Storages = section()


@dataclass(frozen=True, kw_only=True)
class Login:
    user: str = spec(chk.unix_user, "ubuntu", "the login user cloud-init creates (sudo, key only)")
    ssh_public_key_file: str = spec(chk.public_key_file,
                                    doc="the public key's file (the key never goes in the catalog); "
                                        "cloud-init installs it")
    ssh_private_key_file: str | None = spec(chk.text("a path to the matching private key"), None,
                                            "default: the public key path without .pub")

    def private_key_path(self) -> str:
        path = self.ssh_private_key_file or self.ssh_public_key_file.removesuffix(".pub")
        return os.path.expanduser(path)


@dataclass(frozen=True, kw_only=True)
class Gpu:
    pci_address: str = spec(chk.pci_address, doc="host PCI address; without .F all functions pass")
    vendor_device: str = spec(chk.vendor_device,
                              doc="the GPU function's ids; preflight and verify match on them")
    mapping: str = spec(chk.proxmox_id, doc="cluster PCI resource mapping name (made by Terraform if absent)")
    name: str = spec(chk.text(), "NVIDIA GeForce RTX 5060 Ti", "the name nvidia-smi must report")
    min_memory_mib: int = spec(chk.integer(1024, 1048576), 15872,
                               "smallest memory.total nvidia-smi may report (16 GB card: 16311)")
    memory_bandwidth_gbps: float = spec(chk.number(1, 100000), 448.0, "for the decode roofline")


@dataclass(frozen=True, kw_only=True)
class Nvidia:
    driver_branch: str | int = spec(
        chk.one_of_checks(chk.choice("auto"), chk.integer(525, 9999),
                          "'auto' or a driver branch number such as 580"),
        "auto", "auto: the -open distro driver ubuntu-drivers offers")
    cuda_toolkit: str = spec(chk.cuda_toolkit, "cuda-toolkit-13-0",
                             "the system toolkit for JIT builds (nvcc, FlashInfer): match vLLM's CUDA "
                             "runtime (13.0 for vLLM >= 0.20; `make check-pins` compares them)")


@dataclass(frozen=True, kw_only=True)
class Ollama:
    enabled: bool = spec(chk.boolean, True, "start at boot")
    version: str = spec(chk.version, "0.32.15", "the Ollama release")
    url: str = spec(chk.pattern(r"(https?|file)://\S*\{version\}\S*",
                                "a URL template containing {version}"),
                    "https://github.com/ollama/ollama/releases/download/v{version}/{asset}",
                    "where the release archive is downloaded ({version} and {asset} filled in: "
                    "ollama-linux-amd64.tgz up to 0.13.x, .tar.zst from 0.14.0); a mirror works")
    sha256: str | None = spec(chk.sha256, None, "default: from the release's sha256sum.txt")
    bind: str = spec(chk.ip_port, "127.0.0.1:11434", "OLLAMA_HOST: where the API listens")
    models_dir: str = spec(chk.absolute_path, "/var/lib/ollama/models", "OLLAMA_MODELS: the model store")
    keep_alive: str = spec(chk.duration, "5m", "OLLAMA_KEEP_ALIVE: how long an idle model stays in VRAM")
    max_loaded_models: int = spec(chk.integer(1, 16), 1, "OLLAMA_MAX_LOADED_MODELS (one fits beside vLLM)")
    num_parallel: int = spec(chk.integer(1, 64), 1, "OLLAMA_NUM_PARALLEL: requests served at once per model")
    models: list = spec(chk.list_of(chk.text(), "a list of model names, e.g. [llama3.1:8b]"), [],
                        "pulled at deploy; verify expects them in `ollama list`. Ollama's names: "
                        f"{ollama_names.FORMS} (a registry of your own, e.g. "
                        "192.168.1.5:5000/library/tiny:latest)")
    insecure_registries: list = spec(
        chk.list_of(chk.text(), "a list of registry hosts, e.g. [\"192.168.1.5:5000\"]"), [],
        "registries (HOST[:PORT] as the model names write them) that serve plain http: their models are "
        "pulled with `ollama pull --insecure`; every other pull is https")
    model_sizes_mb: dict = spec(chk.size_table, {},
                                "each model's size in MB as `ollama list` shows it (e.g. {\"llama3.2:3b\": "
                                "2000}): `catalog validate` checks it fits beside vLLM's share; configure "
                                "reads the real sizes from the VM")
    expose: bool = spec(chk.boolean, False, "open the firewall to firewall.admin_network")

    def asset(self) -> str:
        return ollama_asset(self.version)

    def release_url(self) -> str:
        return self.url.format(version=self.version, asset=self.asset())

    def problems(self) -> list[tuple[str | tuple, str, str, str]]:
        return self._url_problems() + self._name_problems()

    def _url_problems(self) -> list[tuple[str | tuple, str, str, str]]:
        """A URL whose archive type is not the one the release publishes for this version 404s."""
        name = self.url.rsplit("/", 1)[-1]
        if "{asset}" in name:
            return []
        suffix = next((x for x in ARCHIVE_SUFFIXES if name.endswith(x)), None)
        want = self.asset().removeprefix(OLLAMA_ASSET_STEM)
        if suffix == want:
            return []
        return [("url", repr(self.url), f"a URL ending in {{asset}} or {want}",
                 f"Ollama {self.version} is published as {self.asset()} "
                 "(.tgz up to 0.13.x, .tar.zst from 0.14.0)")]

    def _name_problems(self) -> list[tuple[str | tuple, str, str, str]]:
        """Each model a name Ollama takes; each insecure registry one a model is pulled from."""
        found: list[tuple[str | tuple, str, str, str]] = []
        for i, model in enumerate(self.models):
            if scheme := ollama_names.scheme(model):
                found.append((("models", i), repr(model), "a model name without a scheme",
                              f"Ollama drops the {scheme}:// and pulls over https: write "
                              f"{model.split('://', 1)[1]!r} and, for plain http, list its host in "
                              "services.ollama.insecure_registries"))
            elif ollama_names.parse(model) is None:
                found.append((("models", i), repr(model), ollama_names.FORMS,
                              "a letter, digit or _ first; the namespace without dots; a host needs a "
                              "namespace after it"))
        hosts = {ollama_names.registry(m) for m in self.models}
        for i, host in enumerate(self.insecure_registries):
            if ollama_names.scheme(host) or not ollama_names.valid_host(host):
                found.append((("insecure_registries", i), repr(host),
                              "HOST or HOST:PORT, e.g. 192.168.1.5:5000",
                              "the host as the model names write it, without http:// or a path"))
            elif host not in hosts:
                found.append((("insecure_registries", i), repr(host), "a registry a model is pulled from",
                              "no name in services.ollama.models starts with " + repr(host + "/")))
        return found

    def pulls_insecure(self, model: str) -> bool:
        """Is MODEL pulled from a plain-http registry (`ollama pull --insecure`)?"""
        host = ollama_names.registry(model)
        return host is not None and host in self.insecure_registries


@dataclass(frozen=True, kw_only=True)
class Vllm:
    enabled: bool = spec(chk.boolean, True, "start at boot")
    version: str = spec(chk.version, "0.32.0", "the vllm release installed in its venv")
    model: str = spec(chk.text(), "Qwen/Qwen2.5-7B-Instruct-AWQ", "the Hugging Face model vLLM serves")
    revision: str = spec(chk.text(), "main",
                         "the model's branch, tag or commit id (a commit id pins the exact files)")
    hf_endpoint: str = spec(chk.pattern(r"https?://\S+", "an http(s) URL"), "https://huggingface.co",
                            "where configure fetches the model (HF_ENDPOINT): the Hub, or a mirror of it")
    bind: str = spec(chk.ip_port, "127.0.0.1:8000", "where the OpenAI-compatible API listens")
    gpu_memory_utilization: float = spec(chk.number(0.05, 0.98), 0.5,
                                         "share of VRAM vLLM preallocates; leave room for Ollama")
    max_model_len: int = spec(chk.integer(256, 1048576), 8192,
                              "--max-model-len: the context that fits the KV cache")
    python: str = spec(chk.choice("3.11", "3.12", "3.13"), "3.12",
                       "the venv's Python: vLLM >= 0.20 needs 3.11 or newer (Ubuntu 24.04 ships 3.12)")
    index_url: str = spec(chk.pattern(r"(https?|file)://\S+", "a package index URL"),
                          "https://pypi.org/simple",
                          "the only index vllm and its torch come from (a mirror of PyPI works)")
    cache_dir: str = spec(chk.absolute_path, "/var/lib/vllm",
                          "the vllm user's home: model and compile caches")
    extra_args: list = spec(chk.list_of(chk.scalar_text("a flag or its value"),
                                        "a list of `vllm serve` flags and values, e.g. "
                                        "[--attention-backend, TRITON_ATTN, --enforce-eager]"), [],
                            "more `vllm serve` flags, checked against the flags the pinned version "
                            "accepts; the catalog's own (--host, --port, ...) are refused")
    expose: bool = spec(chk.boolean, False, "open the firewall to firewall.admin_network")

    def problems(self) -> list[tuple[str | tuple, str, str, str]]:
        """extra_args: each flag known to this vLLM, once, with its value, and not one the catalog sets."""
        found = vllm_flags.problems(list(self.extra_args), self.version, vllm_flags.known_flags(self.version))
        return [(("extra_args", p.index), p.found, p.allowed, p.hint) for p in found]


@dataclass(frozen=True, kw_only=True)
class Services:
    ollama: Ollama = section()
    vllm: Vllm = section()


@dataclass(frozen=True, kw_only=True)
class Firewall:
    enabled: bool = spec(chk.boolean, True, "ufw: deny incoming but SSH from admin_network")
    admin_network: str = spec(chk.ipv4_network, doc="network allowed to SSH (and exposed services)")


@dataclass(frozen=True, kw_only=True)
class Gateway:
    vm: str | None = spec(chk.vm_name, None,
                          "the VM (of `vms`) that runs the gateway, LiteLLM's proxy; none: no gateway, "
                          "every engine stays where its bind says")
    bind: str = spec(chk.ip_port, "0.0.0.0:4000", "where the gateway listens on its VM")
    allow_from: str | None = spec(chk.ipv4_network, None,
                                  "the network the gateway VM's firewall lets reach the gateway's port; "
                                  "default: that VM's firewall.admin_network")
    master_key_file: str | None = spec(chk.secret_file, None,
                                       "the file on this machine holding the gateway's master key (one line, "
                                       "e.g. sk-...; mode 600): read by `catalog validate` and at configure "
                                       "time, never kept in the catalog, the state or any output; required "
                                       "with `vm`")
    routing_strategy: str = spec(chk.choice(*gw.ROUTING_STRATEGIES), "simple-shuffle",
                                 "how LiteLLM picks among the VMs serving the same model "
                                 "(router_settings.routing_strategy)")
    admin_access: bool = spec(chk.boolean, False,
                              "the admin network reaches the fronted engines directly too (their VM's "
                              "firewall.admin_network); false: only the gateway's VM does")
    litellm_version: str = spec(chk.version, gw.LITELLM_VERSION,
                                "the LiteLLM release in its venv, with its proxy's requirements")
    index_url: str = spec(chk.pattern(r"(https?|file)://\S+", "a package index URL"),
                          "https://pypi.org/simple",
                          "the only index litellm comes from (a mirror of PyPI works)")
    routes: tuple = field(default=(), metadata={"internal": True})  # derived: catalog/gateway.py

    def port(self) -> int:
        return split_bind(self.bind)[1]


@dataclass(frozen=True, kw_only=True)
class Vm:
    name: str = spec(chk.vm_name, doc="the VM's name on Proxmox and its host name")
    vmid: int = spec(chk.integer(100, 999999999), doc="never a VM the tool does not own (preflight checks)")
    node: str | None = spec(chk.proxmox_id, None, "default: proxmox.node")
    cores: int = spec(chk.integer(1, 512), doc="virtual CPUs")
    cpu: str = spec(chk.cpu_type, "host", "CPU type (host: every feature of the node's CPU)")
    memory_mb: int = spec(chk.integer(512, 4194304, unit="MB"), doc="RAM in MB")
    disk_gb: int = spec(chk.integer(8, 65536, unit="GB"), doc="disk in GB, on `storage`")
    swap_gb: int = spec(chk.integer(0, 1024, unit="GB"), 0,
                        "a /swapfile of this many GiB, made by the base step; 0: none (swap slows model "
                        "loading); swap the admin set up is never removed")
    storage: str = spec(chk.proxmox_id, doc="storage for the VM disk, e.g. local-zfs")
    image: str = spec(chk.volume_id, doc="the Ubuntu cloud image's volume (iso or import content)")
    bridge: str = spec(chk.proxmox_id, "vmbr0", "the node's bridge for net0")
    ipv4: str = spec(chk.ipv4_config, "dhcp", "dhcp: the guest agent reports the address")
    gateway: str | None = spec(chk.ipv4_address, None, "required with a static ipv4")
    login: Login = section()
    gpu: Gpu = section()
    nvidia: Nvidia = section()
    services: Services = section()
    firewall: Firewall = section()
    # derived from the catalog's gateway section at load, never written in the catalog
    fronted: gw.Fronted | None = field(default=None, metadata={"internal": True})
    runs_gateway: Gateway | None = field(default=None, metadata={"internal": True})

    def static_address(self) -> str | None:
        return None if self.ipv4 == "dhcp" else self.ipv4.split("/")[0]


@dataclass(frozen=True, kw_only=True)
class Catalog:
    proxmox: Proxmox = section()
    vms: list = spec(chk.list_of(lambda v: v, "a list of VMs"), doc="every VM this tool manages, by name")
    gateway: Gateway = section()
    path: str = field(default=DEFAULT_CATALOG, metadata={"internal": True})

    def vm(self, name: str) -> Vm:
        for vm in self.vms:
            if vm.name == name:
                return vm
        known = ", ".join(v.name for v in self.vms) or "none"
        near = difflib.get_close_matches(name, [v.name for v in self.vms], n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise CatalogError([f"{self.path}: no VM named {name!r}{hint}; the catalog has: {known}"])

    def node_of(self, vm: Vm) -> str:
        return vm.node or self.proxmox.node


# ---- errors and loading -----------------------------------------------------------------------

class CatalogError(Exception):
    """One or more catalog problems, each a complete one-line message."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class _Collector:
    def __init__(self, path: str, src: Source):
        self.path, self.src, self.problems = path, src, []

    def add(self, where: tuple, found: str, allowed: str, hint: str = "") -> None:
        line = self.src.line(where)
        msg = f"{self.path}:{line}: {format_path(where)}: found {found}; allowed: {allowed}"
        self.problems.append(msg + (f" ({hint})" if hint else ""))


def _is_section(f: dataclasses.Field) -> bool:
    return bool(f.metadata.get("section"))


def section_type(cls: type, f: dataclasses.Field) -> type:
    hint = typing.get_type_hints(cls)[f.name]
    if isinstance(hint, types.UnionType):  # pragma: no cover - sections are never optional
        hint = next(a for a in hint.__args__ if a is not type(None))
    return hint


def _build(cls: type, data: Any, where: tuple, out: _Collector) -> Any:
    """Check `data` against dataclass `cls`; report into `out`; return an instance or None."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        out.add(where, chk.describe(data), f"a mapping with the keys {_keys(cls)}")
        return None
    fields = [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]
    names = [f.name for f in fields]
    meant: set[str] = set()  # fields an unknown key is a near miss of: one typo, one problem
    for key in data:
        if (cls.__name__, key) in RETIRED:
            out.add((*where, key), f"the retired key {key!r}", f"the keys {_keys(cls)}",
                    RETIRED[cls.__name__, key])
        elif key not in names:
            near = difflib.get_close_matches(str(key), [n for n in names if n not in data], n=1, cutoff=0.6)
            meant.update(near)
            hint = f"did you mean {near[0]!r}?" if near else ""
            out.add((*where, key), f"unknown key {key!r}", f"the keys {_keys(cls)}", hint)
    values: dict[str, Any] = {}
    ok = True
    for f in fields:
        here = (*where, f.name)
        if _is_section(f):
            values[f.name] = _build(section_type(cls, f), data.get(f.name), here, out)
            ok = ok and values[f.name] is not None
            continue
        if f.name not in data:
            if f.default is _REQUIRED and f.default_factory is _REQUIRED:
                if f.name not in meant:  # else the misspelt key's problem already names it
                    out.add(here, "nothing (the field is required)", allowed(f.metadata["check"]))
                ok = False
            continue
        try:
            values[f.name] = f.metadata["check"](data[f.name])
        except chk.Invalid as bad:
            out.add(here, chk.describe(data[f.name]), bad.allowed, bad.hint)
            ok = False
    if not ok:
        return None
    built = cls(**values)
    for name, found, allowed_text, hint in getattr(built, "problems", list)():
        out.add((*where, *(name if isinstance(name, tuple) else (name,))), found, allowed_text, hint)
        ok = False
    return built if ok else None


def allowed(check: chk.Check) -> str:
    """What a check accepts, read from the error it gives for an empty value."""
    try:
        check(None)
    except chk.Invalid as bad:
        return bad.allowed
    return "a value"  # pragma: no cover - every check refuses None


def _keys(cls: type) -> str:
    return ", ".join(f.name for f in dataclasses.fields(cls) if not f.metadata.get("internal"))


def _check_vms(raw: Any, out: _Collector) -> list[Vm]:
    if not isinstance(raw, list):
        return []  # reported by the Catalog schema
    if not raw:
        out.add(("vms",), "an empty list", "at least one VM")
    vms: list[Vm] = []
    seen: dict[tuple[str, Any], int] = {}
    for i, item in enumerate(raw):
        vm = _build(Vm, item, ("vms", i), out)
        if vm is not None:
            vms.append(vm)
        if not isinstance(item, dict):
            continue
        # cross-field rules read the raw entry, so they report even when other fields are wrong
        for key in ("vmid", "name"):
            value = item.get(key)
            if isinstance(value, (int, str)) and (key, value) in seen:
                out.add(("vms", i, key), f"{value!r} again", f"a {key} no other VM has",
                        f"vms[{seen[key, value]}] already uses it")
            elif isinstance(value, (int, str)):
                seen[key, value] = i
        if item.get("ipv4", "dhcp") != "dhcp" and not item.get("gateway"):
            out.add(("vms", i, "gateway"), "nothing (missing)", "an IPv4 address",
                    "a static ipv4 needs a gateway")
    return vms


def parse_catalog(text: str, path: str = DEFAULT_CATALOG) -> Catalog:
    """Validate catalog text; return a Catalog or raise CatalogError with every problem."""
    try:
        src = load(text)
    except YamlSyntaxError as exc:
        raise CatalogError([f"{path}:{exc.line}: not valid YAML: {exc.problem}"]) from None
    out = _Collector(path, src)
    for where, line in src.duplicates:
        out.problems.append(f"{path}:{line}: {format_path(where)}: found the key twice; "
                            "allowed: each key once (the later one would silently win)")
    if not isinstance(src.data, dict):
        out.add((), chk.describe(src.data), "a mapping with the keys proxmox, vms")
        raise CatalogError(out.problems)
    top = _build(Catalog, src.data, (), out)
    vms = _check_vms(src.data.get("vms"), out)
    if out.problems or top is None:
        raise CatalogError(out.problems)
    # the gateway's rules read whole VMs: they run once every field is right
    found, vms, gateway = gw.apply(top.gateway, vms)
    for where, value, allowed_text, hint in found:
        out.add(where, value, allowed_text, hint)
    if out.problems:
        raise CatalogError(out.problems)
    return dataclasses.replace(top, vms=vms, gateway=gateway, path=path)


def load_catalog(path: str | os.PathLike = DEFAULT_CATALOG) -> Catalog:
    """Read and validate the catalog file at `path`."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError([f"{name}: no such file (set --catalog or AIMACHINE_CATALOG)"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError([f"{name}: cannot read: {exc}"]) from None
    return parse_catalog(text, name)


def vm_summary(catalog: Catalog, vm: Vm) -> dict[str, Any]:
    """The resolved VM entry (defaults applied) as plain data, node filled in from the host."""
    data = dataclasses.asdict(vm)
    data["node"] = catalog.node_of(vm)
    data["address"] = vm.static_address()
    for internal in ("fronted", "runs_gateway"):
        del data[internal]
    if vm.fronted:
        data["fronted_by"] = gw.fronted_summary(vm.fronted)
    if vm.runs_gateway:
        data["runs_gateway"] = gw.summary(vm.runs_gateway, vm)
    return data
