"""`aimachine rehearse NAME`: the deploy's phases, for real tools, against a built-in Proxmox host.

The simulator (aimachine/pvesim) serves a host built from the catalog on 127.0.0.1; the real Terraform and
bpg/proxmox provider apply the catalog to it; the phases are the deploy's own (deployment.py), with its
output. With root and systemd-nspawn a local systemd guest stands in for the VM: configure runs its
GPU-free steps on it over SSH and verify its service checks. Everything lives in one scratch directory,
removed at the end with every process, link and listener the run made (--keep keeps the files).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from aimachine import deploy as dep
from aimachine.catalog.schema import Catalog, Vm, load_catalog
from aimachine.phases import Echo, Phase, RunRecord, format_duration, run_phases, summary_lines
from aimachine.proxmox import provision as prov
from aimachine.proxmox.terraform import DIR_ENV
from aimachine.pvesim.server import serve
from aimachine.reach.address import vm_target
from aimachine.reach.state import STATE_ENV
from aimachine.rehearsal import guest as nspawn
from aimachine.rehearsal import noble_base, node_sysfs, payloads
from aimachine.rehearsal.catalog_copy import GuestSettings, rehearsal_catalog
from aimachine.rehearsal.host import SCENARIOS, host_state
from aimachine.rehearsal.in_thread import in_thread
from aimachine.rehearsal.tools import find_tools, scratch_module
from aimachine.verify import checks as v

SHIM_DIR = Path(__file__).resolve().parent / "bin"
# the guest is Ubuntu 24.04 from Ubuntu's archive, with the card on its PCI bus but no GPU behind it:
# these steps are the ones that do not need the GPU itself
GUEST_STEPS = "update,base,security,models,vllm,ollama"
SKIPPED_STEPS = {"nvidia": "needs the GPU: its kernel module loads",
                 "cuda": "needs NVIDIA's repository, not mirrored here, and the GPU",
                 "monitoring": "reads the GPU (nvidia-smi, persistence mode)"}
GPU_CHECKS = ("lspci", "gpu-name", "gpu-memory", "driver-version", "driver-open", "dmesg", "nvcc",
              "vllm-gpu", "ollama-gpu")
NO_GUEST_ADDRESS = "198.51.100.140"  # TEST-NET-2: what the agent reports when no guest stands in


@dataclass
class RehearsalOptions:
    scenario: str | None = None
    keep: bool = False
    guest: bool = True  # boot a local guest when root and systemd-nspawn allow it
    terraform_bin: str | None = None
    scratch_parent: str | None = None  # default: the system's temporary directory


@dataclass
class Rehearsal:
    name: str
    options: RehearsalOptions
    echo: Echo
    scratch: Path
    guest: nspawn.NspawnHost | None = None
    no_guest_reason: str = ""


def guest_unavailable(options: RehearsalOptions) -> str | None:
    """Why no local guest stands in for the VM, or None when one will."""
    if options.scenario:
        return f"scenario {options.scenario} stops before the VM boots"
    if not options.guest:
        return "--no-guest"
    return nspawn.unavailable_reason()


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Run with `values` set and every PROXMOX_VE_* of the admin's own removed; restore afterwards."""
    saved = dict(os.environ)
    for key in [k for k in os.environ if k.startswith("PROXMOX_VE_")]:
        del os.environ[key]
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _simulator(state: dict, scratch: Path) -> Iterator[str]:
    """The simulator in a thread of this process, on 127.0.0.1 (stopped on exit)."""
    state_file = scratch / "pve-state.yml"
    state_file.write_text(yaml.safe_dump(state, sort_keys=False))
    with in_thread(serve(state_file, 0), "pvesim") as port:
        yield f"https://127.0.0.1:{port}"


def _public_key(scratch: Path) -> Path:
    """A throw-away ed25519 key pair (OpenSSH format) for the VM's login."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = scratch / "id_ed25519"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                          serialization.NoEncryption()))
    private.chmod(0o600)
    public = scratch / "id_ed25519.pub"
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                     serialization.PublicFormat.OpenSSH) + b" rehearsal\n")
    return public


def _tools_env(r: Rehearsal) -> dict[str, str]:
    tools, why = find_tools()
    if tools is None:
        r.echo(f"  terraform: {r.options.terraform_bin or 'terraform'} from PATH; bpg/proxmox from its "
               "registry "
               f"(`make tools` builds a local copy: {why})")
        return {}
    r.echo(f"  terraform: {tools.terraform}, bpg/proxmox {tools.provider_version} from the local mirror "
           "(`make tools`)")
    return tools.env()


def _boot_guest(r: Rehearsal, cat: Catalog, vm: Vm, stack: contextlib.ExitStack) -> Path:
    """Boot the guest with the stand-in payloads bound in; returns the public key it accepts."""
    services = vm.services
    mirror = payloads.build_mirror(r.scratch / "payloads", services.vllm.version, services.ollama.version)
    r.echo(f"  guest: booting a local systemd guest at {nspawn.REHEARSAL_NET.target_ip} (Ubuntu 24.04, "
           "systemd-nspawn, its own network namespace, cloud-init with the deploy's user-data) ...")
    binds = {str(mirror): payloads.MIRROR_IN_GUEST}
    r.guest = stack.enter_context(nspawn.booted(r.scratch / "guest", binds=binds, net=nspawn.REHEARSAL_NET,
                                                hostname=vm.name))
    nspawn.serve_mirror(r.guest, payloads.MIRROR_IN_GUEST, payloads.MIRROR_PORT)
    return Path(f"{r.guest.key}.pub")


def _boot_without_guest(d: dep.DeployRun) -> str:
    address = prov.wait_for_address(d.prov)
    d.address = address
    return f"{address} (no guest: SSH and cloud-init are not waited for)"


def _verify_services(r: Rehearsal, d: dep.DeployRun) -> str:
    vm = d.prov.vm
    target = vm_target(vm, d.address, phase="verify")
    checks = [c for c in v.checks_for(vm, target.host, 120) if c.name not in GPU_CHECKS]
    report = v.run_checks(checks, v.live_executor(target), v.Report(vm.name, target.host),
                          progress=lambda msg: d.echo(f"  ... {msg}"))
    d.echo(v.render_table(report))
    v.raise_if_failed(report)
    return f"{len(report.results)} service checks passed; not run (need the GPU): {', '.join(GPU_CHECKS)}"


def _phases(r: Rehearsal, d: dep.DeployRun) -> list[Phase]:
    phases = {p.name: p for p in dep.deploy_phases(d)}
    if r.guest is None:
        phases["boot"] = Phase("boot", lambda: _boot_without_guest(d), "guest agent address")
        return [phases[n] for n in dep.PHASES[:5]]
    phases["configure"] = Phase("configure", phases["configure"].run,
                                f"pyinfra on the guest: {GUEST_STEPS.replace(',', ', ')}")
    phases["verify"] = Phase("verify", lambda: _verify_services(r, d), "the service checks")
    return [phases[n] for n in dep.PHASES]


def _summary(r: Rehearsal, record: RunRecord, d: dep.DeployRun) -> list[str]:
    outcome = f"FAILED in {record.phases[-1].name}" if record.failed else "done"
    lines = ["", f"rehearse {r.name}: {outcome} in {format_duration(record.seconds)}", *summary_lines(record),
             *dep.time_spent_lines(d)]
    if r.guest is None and not record.failed:
        lines.append(f"  not rehearsed: configure, verify ({r.no_guest_reason})")
    elif r.guest is not None and not record.failed:
        skipped = "; ".join(f"{step} ({why})" for step, why in SKIPPED_STEPS.items())
        lines.append(f"  configure steps not rehearsed: {skipped}")
    if r.options.keep:
        lines += [f"  kept: {r.scratch}",
                  f"    look inside: ls {r.scratch}; the host after the run, with every "
                  f"API write in its journal: {r.scratch / 'pve-state.yml'}",
                  "    serve that host again: python -m aimachine.pvesim --state "
                  f"{r.scratch / 'pve-state.yml'}"]
    else:
        lines.append(f"  removed: {r.scratch} (the simulator, the guest and their network are gone)")
    if not record.failed:
        lines.append(f"  next, on your Proxmox host: export PROXMOX_VE_ENDPOINT and PROXMOX_VE_API_TOKEN "
                     f"(aimachine token-setup {r.name}), then `make deploy-{r.name}` or "
                     f"`aimachine deploy {r.name}`")
    return lines


def rehearse(catalog_path: str, name: str, options: RehearsalOptions, echo: Echo) -> RunRecord:
    """Run the rehearsal; returns its record (record.failed: the phase that stopped it)."""
    cat = load_catalog(catalog_path)
    vm = cat.vm(name)
    scratch = Path(tempfile.mkdtemp(prefix="aimachine-rehearse-", dir=options.scratch_parent))
    r = Rehearsal(name, options, echo, scratch)
    try:
        with _cleanup_on_sigterm(), contextlib.ExitStack() as stack:
            return _rehearse(r, cat, vm, catalog_path, stack)
    finally:
        if not options.keep:
            shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def _cleanup_on_sigterm() -> Iterator[None]:
    """SIGTERM (a closed terminal, `timeout`, a CI runner) unwinds like Ctrl-C, so the guest, its
    network and the scratch directory are removed instead of left behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _rehearse(r: Rehearsal, cat: Catalog, vm: Vm, catalog_path: str,
              stack: contextlib.ExitStack) -> RunRecord:
    scenario = r.options.scenario
    r.echo(f"rehearse {vm.name}: the deploy against a simulated Proxmox VE 8.4 host on 127.0.0.1 "
           f"(nothing else is contacted; {cat.proxmox.endpoint} is not)")
    r.echo(f"  scratch: {r.scratch} ({'kept' if r.options.keep else 'removed'} at the end)")
    r.echo(f"  host: node {cat.node_of(vm)} from {catalog_path}: GPU {vm.gpu.vendor_device} at "
           f"{vm.gpu.pci_address} "
           f"in its own IOMMU group, storages {', '.join(sorted({cat.proxmox.storages.iso, vm.storage}))}, "
           f"bridge {vm.bridge}")
    if scenario:
        r.echo(f"  scenario {scenario}: {SCENARIOS[scenario].what}")
    r.no_guest_reason = guest_unavailable(r.options) or ""
    if r.no_guest_reason:
        r.echo(f"  guest: none ({r.no_guest_reason}): the run ends after boot")
        public_key = _public_key(r.scratch)
    else:
        public_key = _boot_guest(r, cat, vm, stack)
    settings = GuestSettings(noble_base.PYTHON, nspawn.REHEARSAL_NET.host_ip) if r.guest else None
    copy = r.scratch / "catalog.yml"
    for note in rehearsal_catalog(Path(catalog_path), vm.name, copy, public_key, settings):
        r.echo(f"  {note}")
    token = f"root@pam!rehearsal={uuid.uuid4()}"
    address = r.guest.address if r.guest else NO_GUEST_ADDRESS
    state = host_state(cat, vm, token, str(r.scratch / "vz"), address, scenario)
    sysfs = node_sysfs.write(r.scratch / "node-sysfs", vm, state.pop("node_card", node_sysfs.HEALTHY))
    env = {"PROXMOX_VE_API_TOKEN": token, "PROXMOX_VE_INSECURE": "true",
           STATE_ENV: str(r.scratch / "state"), DIR_ENV: str(scratch_module(r.scratch)),
           "AIMACHINE_REHEARSAL_NODE": f"{cat.proxmox.ssh_user}@127.0.0.1",
           "AIMACHINE_REHEARSAL_SSH": shutil.which("ssh") or "",
           "AIMACHINE_NODE_SYSFS": str(sysfs),
           "PATH": f"{SHIM_DIR}{os.pathsep}{os.environ.get('PATH', '')}",
           **_tools_env(r)}
    env["PROXMOX_VE_ENDPOINT"] = stack.enter_context(_simulator(state, r.scratch))
    r.echo("")
    steps = GUEST_STEPS if r.guest else None
    until = None if r.guest else "boot"
    options = dep.DeployOptions(r.options.terraform_bin, steps=steps, until=until)
    d = dep.DeployRun(str(copy), vm.name, options,
                      r.echo)
    with _environment(env):
        ran = _phases(r, d)
        record = run_phases(ran, r.echo, total=len(dep.PHASES))
    for line in _summary(r, record, d):
        r.echo(line)
    sys.stdout.flush()
    return record
