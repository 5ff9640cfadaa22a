"""`aimachine deploy NAME NAME...` and `aimachine deploy --all`: several VMs of the catalog in one run.

The order:
1. catalog: loaded once; every name checked (an unknown one lists the catalog's VMs, exit 2).
2. preflight, cloud-init, provision, boot: one VM at a time, in the order named (--all: the catalog's).
   They share the node, its GPUs and its free resources, so each VM's preflight must see the VMs before
   it as they now are. A failure stops there: no later VM's Proxmox phase runs.
3. configure: every VM at once, one pyinfra run each (the launcher's run for one VM, so each keeps its
   own progress, error and remedy; their lines carry the VM's name), every step but the gateway.
4. gateway: the gateway step alone on the gateway's VM, once every VM it fronts is configured (their
   engines bound where it reaches them, their firewalls admitting it), so LiteLLM starts in front of
   engines that are there. Only when the gateway's VM is among those deployed.
5. verify: each VM's checks, one VM after another; every VM is checked, the failures end the run.
Then one summary: a row per VM with each phase's time, and the total.

One VM (a single NAME, or --all with a one-VM catalog) never comes here: deploy.py's run is used as is.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aimachine.catalog.schema import Catalog, CatalogError, load_catalog
from aimachine.configure.launcher import select
from aimachine.deploy import PHASES, DeployOptions, DeployRun, _catalog, deploy_phases, time_spent_lines
from aimachine.errors import PhaseError
from aimachine.phases import Echo, Phase, PhaseRecord, format_duration, run_phases

PROXMOX_PHASES = ("preflight", "cloud-init", "provision", "boot")
GATEWAY = "gateway"  # the gateway step's own phase in a run of several VMs
COLUMNS = (*PROXMOX_PHASES, "configure", GATEWAY, "verify")


def resolve(catalog: Catalog, names: tuple[str, ...], every: bool) -> list[str]:
    """The VMs to deploy, in order: --all the catalog's, else as named (once each). An unknown name is a
    CatalogError that lists the catalog's VMs."""
    if every:
        return [vm.name for vm in catalog.vms]
    problems: list[str] = []
    for name in names:
        try:
            catalog.vm(name)
        except CatalogError as exc:
            problems += exc.problems
    if problems:
        raise CatalogError(problems)
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class ConfigurePlan:
    parallel: tuple[str, ...]  # the VMs configured at once
    steps: str | None  # their steps, comma separated (None: every step)
    gateway: str | None  # the VM whose gateway step runs after all of them (None: no separate step)


def configure_plan(names: list[str], gateway_vm: str | None, steps: str | None) -> ConfigurePlan:
    """Which configure runs a deploy of NAMES makes. The gateway step runs apart, last, only when the
    gateway's VM is deployed and the step is selected; the other VMs' gateway step does nothing anyway."""
    selected = select(steps)  # ValueError: an unknown step
    if gateway_vm not in names or GATEWAY not in selected:
        return ConfigurePlan(tuple(names), steps, None)
    rest = [s for s in selected if s != GATEWAY]
    return ConfigurePlan(tuple(names) if rest else (), ",".join(rest) if rest else None, gateway_vm)


def phases_to_run(until: str | None) -> list[str]:
    """The columns a run stopped after UNTIL (a deploy phase; None: all) goes through."""
    if until is None or until == "verify":
        return list(COLUMNS)
    if until == "configure":
        return [*PROXMOX_PHASES, "configure", GATEWAY]
    return [p for p in PROXMOX_PHASES if PHASES.index(p) <= PHASES.index(until)]


@dataclass
class VmRow:
    name: str
    phases: list[PhaseRecord] = field(default_factory=list)

    def record(self, phase: str) -> PhaseRecord | None:
        return next((p for p in self.phases if p.name == phase), None)

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.phases)


def summary_table(rows: list[VmRow], wall_s: float) -> list[str]:
    """A row per VM: each phase's time (FAILED, or - when it did not run), the VM's total; then the run's
    total on the wall clock (configure runs at once, so it is less than the rows' sum)."""
    columns = [c for c in COLUMNS if any(r.record(c) for r in rows)]
    header = ["VM", *columns, "total"]
    body = []
    for row in rows:
        cells = [row.name]
        for column in columns:
            rec = row.record(column)
            cells.append("-" if rec is None else format_duration(rec.seconds) if rec.ok else "FAILED")
        body.append([*cells, format_duration(row.seconds)])
    body.append(["total", *([""] * len(columns)), format_duration(wall_s)])
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def render(cells: list[str]) -> str:
        first, *rest = cells
        return ("  " + first.ljust(widths[0]) + "".join(f"  {c.rjust(w)}" for c, w in zip(rest, widths[1:],
                                                                                          strict=True))).rstrip()

    return [render(header), *(render(line) for line in body)]


def outcome_line(names: list[str], failed: tuple[str, str] | None, last: str | None, until: str | None,
                 wall_s: float) -> str:
    """deploy A, B: done / FAILED in VM's PHASE / stopped after PHASE, as asked; in TIME."""
    if failed:
        outcome = f"FAILED in {failed[1]} ({failed[0]})"
    elif until and until != "verify":
        outcome = f"stopped after {last or until}, as asked,"
    else:
        outcome = "done"
    return f"deploy {', '.join(names)}: {outcome} in {format_duration(wall_s)}"


def _for_vm(name: str, exc: PhaseError) -> PhaseError:
    """EXC with the VM's name in front of its message (a configure error has it already)."""
    message = exc.message if exc.message.startswith(f"{name}:") else f"{name}: {exc.message}"
    return PhaseError(exc.phase, message, exc.remedy)


class ManyDeploy:
    """One run over several VMs (see the module's text); `run` returns the error that ends it, if any."""

    def __init__(self, catalog_path: str, names: list[str], options: DeployOptions, echo: Echo,
                 clock: Callable[[], float] = time.monotonic):
        self.catalog_path, self.names, self.options, self.clock = catalog_path, names, options, clock
        self._lock = threading.Lock()
        self._echo = echo
        self.runs = {n: DeployRun(catalog_path, n, options, self.echo) for n in names}
        self.rows = [VmRow(n) for n in names]
        self.failed: tuple[str, str] | None = None  # (VM, phase)
        self.last: str | None = None
        self.wall_s = 0.0

    def echo(self, line: str) -> None:
        with self._lock:  # whole lines, from any thread
            self._echo(line)

    def row(self, name: str) -> VmRow:
        return next(r for r in self.rows if r.name == name)

    def _fail(self, name: str, phase: str) -> None:
        self.failed = self.failed or (name, phase)

    # ---- the stages -------------------------------------------------------------------------------

    def catalog(self) -> None:
        for d in self.runs.values():
            self.echo(f"  {_catalog(d)}")

    def proxmox(self, wanted: list[str]) -> PhaseError | None:
        for number, name in enumerate(self.names, 1):
            d = self.runs[name]
            phases = [p for p in deploy_phases(d) if p.name in wanted and p.name in PROXMOX_PHASES]
            if not phases:
                return None
            self.echo(f"== {name} ({number}/{len(self.names)}): {', '.join(p.name for p in phases)}")
            record = run_phases(phases, lambda line, n=name: self.echo(f"{n} {line}"), self.clock,
                                total=len(PHASES), first=2)
            self.row(name).phases += record.phases
            self.last = record.phases[-1].name if record.phases else self.last
            if record.failed:
                self._fail(name, record.failed.phase)
                return _for_vm(name, record.failed)
        return None

    def _configure_one(self, name: str, steps: str | None, phase: str, errors: dict[str, PhaseError]) -> None:
        from aimachine.configure import launcher

        d = self.runs[name]
        start = self.clock()
        try:
            outcome = launcher.configure(self.catalog_path, name, steps=steps,
                                         echo=lambda line: self.echo(f"  [{name}]{line}"))
        except PhaseError as exc:
            seconds = self.clock() - start
            self.row(name).phases.append(PhaseRecord(phase, seconds, False, exc.message))
            errors[name] = exc
            self.echo(f"{name} {phase} FAILED ({seconds:.1f} s)")
            return
        seconds = self.clock() - start
        detail = ("no changes (0 changed operations)" if outcome.changed == 0
                  else f"{outcome.changed} changed operations")
        d.time_spent += outcome.where_the_time_went()
        self.row(name).phases.append(PhaseRecord(phase, seconds, True, detail))
        self.echo(f"{name} {phase} ok ({seconds:.1f} s): {detail}")

    def configure(self, plan: ConfigurePlan) -> PhaseError | None:
        errors: dict[str, PhaseError] = {}
        if plan.parallel:
            after = "; the gateway step after them" if plan.gateway else ""
            self.echo(f"[6/7] configure: {', '.join(plan.parallel)} at once, one pyinfra run each "
                      f"(steps: {plan.steps or 'all'}{after}) ...")
            threads = [threading.Thread(target=self._configure_one, args=(n, plan.steps, "configure", errors))
                       for n in plan.parallel]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            self.last = "configure"
        if not errors and plan.gateway:
            self.echo(f"[6/7] gateway: the gateway step on {plan.gateway}, after every VM it fronts ...")
            self._configure_one(plan.gateway, GATEWAY, GATEWAY, errors)
        if not errors:
            return None
        failed = [n for n in self.names if n in errors]  # the named order, not the finishing one
        gateway_failed = (rec := self.row(failed[0]).record(GATEWAY)) is not None and not rec.ok
        self._fail(failed[0], GATEWAY if gateway_failed else "configure")
        return PhaseError("configure", "\n".join(_for_vm(n, errors[n]).message for n in failed),
                          "; ".join(errors[n].remedy for n in failed if errors[n].remedy))

    def verify(self) -> PhaseError | None:
        from aimachine.deploy import _verify

        errors: list[PhaseError] = []
        for name in self.names:
            record = run_phases([Phase("verify", lambda n=name: _verify(self.runs[n]))],
                                lambda line, n=name: self.echo(f"{n} {line}"), self.clock,
                                total=len(PHASES), first=len(PHASES))
            self.row(name).phases += record.phases
            if record.failed:
                self._fail(name, "verify")
                errors.append(_for_vm(name, record.failed))
        self.last = "verify"
        if not errors:
            return None
        return PhaseError("verify", "\n".join(e.message for e in errors),
                          "; ".join(dict.fromkeys(e.remedy for e in errors if e.remedy)))

    # ---- the run -----------------------------------------------------------------------------------

    def run(self) -> PhaseError | None:
        wanted = phases_to_run(self.options.until)
        start = self.clock()
        error: PhaseError | None = None
        if self.options.until != "catalog":
            error = self.proxmox(wanted)
            if error is None and "configure" in wanted:
                gateway_vm = self.runs[self.names[0]].prov.catalog.gateway.vm
                error = self.configure(configure_plan(self.names, gateway_vm, self.options.steps))
            if error is None and "verify" in wanted:
                error = self.verify()
        self.wall_s = self.clock() - start
        return error

    def summary(self, error: PhaseError | None) -> list[str]:
        lines = ["", outcome_line(self.names, self.failed, self.last, self.options.until, self.wall_s),
                 *summary_table(self.rows, self.wall_s)]
        for name in self.names:
            if spent := time_spent_lines(self.runs[name]):
                lines += [f"  {name}:", *(f"  {line}" for line in spent)]
        if error is None and not self.options.until:
            lines += ["", "Next:"]
            for name in self.names:
                address = self.runs[name].address
                lines.append(f"  {name} is at {address}: aimachine ssh {name}; aimachine bench {name}")
        if error is not None and error.phase in ("preflight", "provision", "boot"):
            done = [r.name for r in self.rows if r.record("boot") and r.record("boot").ok]
            if done:
                lines.append(f"  (done through boot: {', '.join(done)}; a re-run changes nothing there)")
        return lines


def deploy_many(catalog_path: str, names: list[str], options: DeployOptions, echo: Echo) -> PhaseError | None:
    """Deploy NAMES (two or more); print the progress and the summary; return the error that ends it."""
    many = ManyDeploy(catalog_path, names, options, echo)
    echo(f"[1/7] catalog: {len(names)} VMs ...")
    many.catalog()
    echo(f"[1/7] catalog ok: {', '.join(names)}")
    error = many.run()
    for line in many.summary(error):
        echo(line)
    return error


def load_names(catalog_path: str, names: tuple[str, ...], every: bool) -> list[str]:
    return resolve(load_catalog(catalog_path), names, every)
