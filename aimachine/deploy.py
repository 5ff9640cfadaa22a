"""`aimachine deploy`: the seven phases from catalog to a verified VM, and the plan that changes nothing.

Each phase is a function of a DeployRun that raises PhaseError; pipeline.run_phases announces and
times them. The Proxmox phases live in provision.py, the configuration in configure/run.py, the checks
in verify.py: this module only strings them together and writes the summary.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aimachine.catalog.schema import load_catalog, split_bind
from aimachine.configure import launcher as configure_run
from aimachine.errors import PhaseError
from aimachine.phases import Echo, Phase, RunRecord, format_duration, summary_lines
from aimachine.proxmox import provision as prov
from aimachine.proxmox.terraform import TerraformError
from aimachine.reach.address import known_address, vm_target
from aimachine.verify import checks as v


@dataclass
class DeployOptions:
    terraform_bin: str | None = None
    health_timeout_s: float = 600
    verbose: bool = False
    steps: str | None = None  # configure only these steps (all by default)
    until: str | None = None  # stop after this phase (all by default)
    allow_replace: bool = False  # a plan may destroy or replace the VM


@dataclass
class DeployRun:
    catalog_path: str
    name: str
    options: DeployOptions
    echo: Echo
    run: prov.Run | None = None
    address: str | None = None
    results: dict[str, str] = field(default_factory=dict)
    time_spent: list[str] = field(default_factory=list)  # configure's downloads and long operations

    @property
    def prov(self) -> prov.Run:
        assert self.run is not None, "the catalog phase runs first"
        return self.run


def _catalog(d: DeployRun) -> str:
    cat = load_catalog(d.catalog_path)
    vm = cat.vm(d.name)
    d.run = prov.Run(cat, vm, d.echo, verbose=d.options.verbose, allow_replace=d.options.allow_replace)
    return (f"{vm.name}: VM {vm.vmid} on {cat.node_of(vm)}, {vm.cores} cores, {vm.memory_mb} MB, "
            f"{vm.disk_gb} GB")


def _provision(d: DeployRun) -> str:
    d.results["terraform"] = prov.provision(d.prov, d.options.terraform_bin)
    return d.results["terraform"]


def _boot(d: DeployRun) -> str:
    d.address = prov.boot(d.prov)
    return d.address


def _configure(d: DeployRun) -> str:
    outcome = configure_run.configure(d.catalog_path, d.name, steps=d.options.steps, echo=d.echo)
    d.results["configure"] = ("no changes (0 changed operations)" if outcome.changed == 0
                              else f"{outcome.changed} changed operations")
    d.time_spent = outcome.where_the_time_went()
    return d.results["configure"]


def _verify(d: DeployRun) -> str:
    vm = d.prov.vm
    target = vm_target(vm, d.address, phase="verify")
    report = v.run_checks(v.checks_for(vm, target.host, d.options.health_timeout_s),
                          v.live_executor(target), v.Report(vm.name, target.host),
                          progress=lambda msg: d.echo(f"  ... {msg}"))
    d.echo(v.render_table(report))
    v.raise_if_failed(report, f"; `aimachine verify {vm.name}` re-runs the checks alone")
    return f"{len(report.results)} checks passed"


PHASES = ("catalog", "preflight", "cloud-init", "provision", "boot", "configure", "verify")


def deploy_phases(d: DeployRun) -> list[Phase]:
    return [
        Phase("catalog", lambda: _catalog(d)),
        Phase("preflight", lambda: prov.preflight(d.prov)),
        Phase("cloud-init", lambda: prov.cloud_init(d.prov)),
        Phase("provision", lambda: _provision(d), "terraform init + apply"),
        Phase("boot", lambda: _boot(d), "guest agent address, SSH, cloud-init"),
        Phase("configure", lambda: _configure(d), "pyinfra: driver, CUDA, vLLM, Ollama, hardening"),
        Phase("verify", lambda: _verify(d)),
    ]


def phases_until(phases: list[Phase], until: str | None) -> list[Phase]:
    """The phases up to and including `until` (all of them when None)."""
    names = [p.name for p in phases]
    return phases[: names.index(until) + 1] if until else phases


def _terraform_plan(d: DeployRun) -> str:
    """terraform init + plan: what apply would change, and whether a deploy would stop before it."""
    try:
        tf = prov.terraform_settled(d.prov, d.options.terraform_bin)
        plan = tf.plan()
        tf.discard_plan()
    except TerraformError as err:
        raise PhaseError("provision", f"terraform {err.command} failed", "read the output above") from None
    if not plan.has_changes:
        return "Terraform: no changes"
    removing = plan.removing(prov.VM_ADDRESS)
    if removing is not None:
        return (f"Terraform would {removing.verb()} the VM (forced by: "
                f"{', '.join(removing.replace_paths) or 'its removal'}): a deploy stops before that "
                "unless --allow-replace")
    return "Terraform would " + "; ".join(f"{c.verb()} {c.address}" for c in plan.changes)


def _configure_dry(d: DeployRun) -> str:
    vm = d.prov.vm
    address = d.address or known_address(vm)
    if not address:
        return "the VM has no address yet: configure would run every step"
    outcome = configure_run.configure(d.catalog_path, d.name, dry=True, steps=d.options.steps, echo=d.echo)
    return f"pyinfra would change {outcome.changed} operations" if outcome.changed else "pyinfra: no changes"


def plan_phases(d: DeployRun) -> list[Phase]:
    return [
        Phase("catalog", lambda: _catalog(d)),
        Phase("preflight", lambda: prov.preflight(d.prov)),
        Phase("plan", lambda: _terraform_plan(d), "terraform plan"),
        Phase("configure", lambda: _configure_dry(d), "pyinfra --dry"),
    ]


def time_spent_lines(d: DeployRun) -> list[str]:
    """Configure's downloads (bytes, rate) and long operations: a slow link shows in a download's rate,
    a slow step in its own time."""
    if not d.time_spent:
        return []
    return ["  where configure's time went:", *(f"    {line}" for line in d.time_spent)]


def summary(d: DeployRun, record: RunRecord) -> list[str]:
    """What the admin reads last: timings, the address, and what to try next."""
    if record.failed:
        outcome = f"FAILED in {record.phases[-1].name}"
    elif record.phases and record.phases[-1].name != PHASES[-1]:
        outcome = f"stopped after {record.phases[-1].name}, as asked"
    else:
        outcome = "done"
    lines = ["", f"deploy {d.name}: {outcome} in {format_duration(record.seconds)}", *summary_lines(record)]
    lines += time_spent_lines(d)
    if record.failed is None and d.address and d.run:
        vm = d.run.vm
        vllm, ollama = vm.services.vllm, vm.services.ollama
        port = split_bind(vllm.bind)[1]
        lines += ["", f"VM {vm.name} is at {d.address}. Next:",
                  f"  ssh {vm.login.user}@{d.address}",
                  f"  ssh -L {port}:{vllm.bind} {vm.login.user}@{d.address}   # then, here:",
                  f"  curl http://127.0.0.1:{port}/health",
                  f"  ssh {vm.login.user}@{d.address} ollama list",
                  f"  aimachine verify {vm.name}; aimachine bench {vm.name}"]
        if not (vllm.enabled and ollama.enabled):
            lines.append("  (a disabled service is not started at boot: see services.*.enabled)")
    return lines
