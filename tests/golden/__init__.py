"""Golden files: every file the tool renders for the shipped catalog's VM, byte for byte.

They were reviewed by eye once; a change to a template or a renderer shows here as a diff to review
again. `python -m tests.golden.regenerate` rewrites them from the code (then read `git diff`).
The converged-host model of the @fake tests reads its files from here, not from the renderers.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from aimachine.catalog.schema import Catalog, Vm, load_catalog
from aimachine.guest import drivers, firewall, rendered
from aimachine.proxmox import cloudinit

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "vm-llm-aimachine"
VERDICTS = Path(__file__).resolve().parent / "preflight-verdicts.txt"  # preflight_scenarios.py
JUDGEMENTS = Path(__file__).resolve().parent / "verify-verdicts.txt"  # verify_cases.py
CHECKS = Path(__file__).resolve().parent / "catalog-checks.txt"  # catalog_cases.py
DRIVERS = Path(__file__).resolve().parent / "driver-choices.txt"  # driver_cases.py
PRIVILEGES = Path(__file__).resolve().parent / "privileges.txt"  # privilege_cases.py
# each golden file's mode on the VM, as data: a checkout's file modes depend on the umask it was made with
MODES = Path(__file__).resolve().parent / "modes.txt"
# the vLLM unit with extra flags (services.vllm.extra_args): known flags reach ExecStart, quoted for systemd
EXTRA_ARGS_UNIT = Path(__file__).resolve().parent / "vllm-extra-args.service"
EXTRA_ARGS = ["--attention-backend", "TRITON_ATTN", "--enforce-eager", "--max-num-seqs", "16",
              "--compilation-config", '{"cudagraph_mode": "PIECEWISE"}']
# the shipped catalog with a second VM and a gateway in front of both: what the gateway adds and changes
GATEWAY_CATALOG = Path(__file__).resolve().parent / "gateway-catalog.yml"
GATEWAY_GOLDEN = Path(__file__).resolve().parent / "gateway"
SNIPPET_DIR = "snippets"  # the user-data, as written to the node's snippets storage
PUBLIC_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGdvbGRlbmtleWZvcnRlc3Rzb25seTAwMDAwMDAwMDAwMDA "
              "golden@aimachine")


def shipped_vm() -> Vm:
    return load_catalog(ROOT / "catalog.yml").vm("vm-llm-aimachine")


def rendered_files(vm: Vm) -> list[rendered.ManagedFile]:
    """What the code renders for `vm`: the VM's files, and the cloud-init user-data for the node."""
    services = vm.services
    return [
        rendered.sshd_dropin(),
        *rendered.apt_files(),
        *rendered.cuda_files(),
        rendered.cuda_source(drivers.cuda_repo_url("24.04")),
        rendered.vllm_unit(services.vllm),
        # the fetcher itself is a source file (aimachine/onvm/fetch_models.py): no copy of it here
        *[f for f in rendered.model_fetch_files(services.vllm) if f.path != rendered.MODELS_FETCHER],
        *rendered.ollama_files(services),
        rendered.persistenced_dropin(),
        rendered.gpu_status_script(),
        rendered.ManagedFile(f"/{SNIPPET_DIR}/{cloudinit.snippet_file(vm)}",
                             cloudinit.render_user_data(vm, PUBLIC_KEY)),
    ]


def extra_args_unit() -> rendered.ManagedFile:
    vllm = dataclasses.replace(shipped_vm().services.vllm, extra_args=EXTRA_ARGS)
    return rendered.vllm_unit(vllm)


def golden_modes() -> dict[str, str]:
    """{VM path: octal mode} as reviewed (MODES: one `MODE PATH` line per file)."""
    rows = (line.split(" ", 1) for line in MODES.read_text().splitlines() if line.strip())
    return {path: mode for mode, path in rows}


def render_modes(files: list[rendered.ManagedFile]) -> str:
    return "".join(f"{f.mode} {f.path}\n" for f in sorted(files, key=lambda f: f.path))


def golden_path(path: str) -> Path:
    return GOLDEN / path.lstrip("/")


def golden_files(vm: Vm) -> list[rendered.ManagedFile]:
    """The VM's files as the golden copies hold them: the paths of what `vm` renders, the contents that were
    reviewed (for the shipped catalog's settings; a test that changes what is rendered needs its own)."""
    out = []
    for made in rendered_files(vm):
        if made.path.startswith(f"/{SNIPPET_DIR}/"):
            continue
        path = golden_path(made.path)
        if not path.is_file():
            raise ValueError(f"no golden file for {made.path}: the golden files are the shipped catalog's")
        out.append(dataclasses.replace(made, content=path.read_text(), mode=golden_modes()[made.path]))
    return out


def gateway_catalog() -> Catalog:
    return load_catalog(GATEWAY_CATALOG)


def gateway_rendered() -> dict[str, str]:
    """{path under GATEWAY_GOLDEN: content}: the gateway's config and unit on its VM; on the VM it fronts, the
    engines' files that moved to its address; on each VM, the ufw commands a fresh VM gets."""
    cat = gateway_catalog()
    out: dict[str, str] = {}
    for vm in cat.vms:
        files = rendered.gateway_files(vm.runs_gateway) if vm.runs_gateway else []
        if vm.fronted and vm.fronted.gateway_address:
            files += [rendered.vllm_unit(vm.services.vllm), *rendered.ollama_files(vm.services)]
        out.update({f"{vm.name}{f.path}": f.content for f in files})
        ports = firewall.wanted_ports(vm.services.vllm.expose, 8000, vm.services.ollama.expose, 11434)
        commands = firewall.ufw_commands(None, vm.firewall.admin_network, ports,
                                         extra=firewall.gateway_rules(vm))
        out[f"{vm.name}/ufw-commands.txt"] = "".join(f"{c}\n" for c in commands)
    return out
