"""A deploy of several VMs: which VMs, which configure runs (the gateway step last), the stages a --until
keeps, the summary table; and the configure stage's runs at once, against a stand-in launcher."""

from __future__ import annotations

import itertools
import threading

import pytest

from aimachine.catalog.schema import CatalogError, load_catalog
from aimachine.configure import launcher
from aimachine.deploy import DeployOptions
from aimachine.deploy_many import (
    ConfigurePlan,
    ManyDeploy,
    VmRow,
    configure_plan,
    outcome_line,
    phases_to_run,
    resolve,
    summary_table,
)
from aimachine.errors import PhaseError
from aimachine.phases import PhaseRecord
from tests.harness.catalog import ROOT

ALL_BUT_GATEWAY = "base,security,update,models,nvidia,cuda,vllm,ollama,monitoring"


def test_all_is_the_catalogs_vms_and_names_keep_their_order_once_each():
    cat = load_catalog(ROOT / "catalog.yml")
    assert resolve(cat, (), every=True) == [vm.name for vm in cat.vms]
    name = cat.vms[0].name
    assert resolve(cat, (name, name), every=False) == [name]


def test_an_unknown_name_lists_the_catalogs_vms():
    cat = load_catalog(ROOT / "catalog.yml")
    with pytest.raises(CatalogError) as caught:
        resolve(cat, ("vm-llm-aimachin", "other"), every=False)
    assert [p.split(": ", 1)[1] for p in caught.value.problems] == [
        "no VM named 'vm-llm-aimachin' (did you mean 'vm-llm-aimachine'?); the catalog has: vm-llm-aimachine",
        "no VM named 'other'; the catalog has: vm-llm-aimachine"]


def test_the_gateway_step_runs_alone_after_every_vm_when_its_vm_is_deployed():
    assert configure_plan(["a", "gw"], "gw", None) == ConfigurePlan(("a", "gw"), ALL_BUT_GATEWAY, "gw")
    assert configure_plan(["a", "gw"], "gw", "vllm,gateway") == ConfigurePlan(("a", "gw"), "vllm", "gw")
    assert configure_plan(["a", "gw"], "gw", "gateway") == ConfigurePlan((), None, "gw")


def test_without_the_gateways_vm_or_step_every_vm_runs_its_steps_at_once():
    assert configure_plan(["a", "b"], "gw", None) == ConfigurePlan(("a", "b"), None, None)
    assert configure_plan(["a", "b"], None, "vllm") == ConfigurePlan(("a", "b"), "vllm", None)
    assert configure_plan(["a", "gw"], "gw", "base,vllm") == ConfigurePlan(("a", "gw"), "base,vllm", None)
    with pytest.raises(ValueError, match="unknown configuration step nope"):
        configure_plan(["a"], None, "nope")


def test_until_keeps_the_stages_up_to_its_phase():
    assert phases_to_run(None) == ["preflight", "cloud-init", "provision", "boot", "configure", "gateway",
                                   "verify"]
    assert phases_to_run("configure") == ["preflight", "cloud-init", "provision", "boot", "configure",
                                          "gateway"]
    assert phases_to_run("provision") == ["preflight", "cloud-init", "provision"]
    assert phases_to_run("catalog") == []


def _row(name: str, *phases: tuple[str, float, bool]) -> VmRow:
    return VmRow(name, [PhaseRecord(p, s, ok) for p, s, ok in phases])


def test_the_summary_is_a_row_per_vm_with_each_phases_time_and_the_wall_clock_total():
    rows = [_row("vm-a", ("preflight", 1, True), ("boot", 30, True), ("configure", 600, True),
                 ("verify", 20, True)),
            _row("gateway-vm", ("preflight", 1, True), ("boot", 40, True), ("configure", 500, True),
                 ("gateway", 90, True), ("verify", 30, True))]
    lines = summary_table(rows, 751)
    assert lines[0].split() == ["VM", "preflight", "boot", "configure", "gateway", "verify", "total"]
    assert lines[1].split() == ["vm-a", "1.0", "s", "30.0", "s", "10", "min", "00", "s", "-", "20.0", "s",
                                "10", "min", "51", "s"]
    assert lines[2].split()[-4:] == ["11", "min", "01", "s"]
    assert lines[3].split() == ["total", "12", "min", "31", "s"]
    assert len({len(line) for line in lines}) == 1, "the columns line up"


def test_a_failed_phase_shows_failed_and_the_later_ones_did_not_run():
    rows = [_row("vm-a", ("preflight", 1, True), ("boot", 3, True)), _row("vm-b", ("preflight", 2, False))]
    lines = summary_table(rows, 6)
    assert lines[2].split() == ["vm-b", "FAILED", "-", "2.0", "s"]
    assert outcome_line(["vm-a", "vm-b"], ("vm-b", "preflight"), "preflight", None, 6) == \
        "deploy vm-a, vm-b: FAILED in preflight (vm-b) in 6.0 s"
    assert outcome_line(["vm-a", "vm-b"], None, "boot", "boot", 6) == \
        "deploy vm-a, vm-b: stopped after boot, as asked, in 6.0 s"
    assert outcome_line(["vm-a", "vm-b"], None, "verify", None, 6) == "deploy vm-a, vm-b: done in 6.0 s"


class _Launcher:
    """launcher.configure's stand-in: records each run's VM and steps, how many ran at once. A configure
    run waits (up to 30 s) until TOGETHER runs are in: runs started at once all meet, whatever the
    machine's load; runs made one after another never do, and the count shows it."""

    def __init__(self, fail: str | None = None, together: int = 3):
        self.calls: list[tuple[str, str | None]] = []
        self.running = self.most = 0
        self.cond = threading.Condition()
        self.fail, self.together = fail, together

    def __call__(self, catalog_path, name, steps=None, echo=print, **_):
        with self.cond:
            self.calls.append((name, steps))
            self.running += 1
            self.most = max(self.most, self.running)
            self.cond.notify_all()
            if steps != "gateway":
                self.cond.wait_for(lambda: self.most >= self.together, timeout=30)
        echo(f"  {steps} | an operation")
        with self.cond:
            self.running -= 1
        if name == self.fail:
            raise PhaseError("configure", f"{name}: failed at: apt",
                             f"run `aimachine configure {name}` again")
        return launcher.Outcome(3, 1, ["x"])


def _many(names, lines):
    counter = itertools.count()
    return ManyDeploy("catalog.yml", names, DeployOptions(), lines.append, clock=lambda: next(counter))


def test_configure_runs_every_vm_at_once_then_the_gateway_step(monkeypatch):
    fake = _Launcher()
    monkeypatch.setattr(launcher, "configure", fake)
    lines: list[str] = []
    many = _many(["a", "b", "gw"], lines)
    assert many.configure(configure_plan(["a", "b", "gw"], "gw", None)) is None
    assert fake.most == 3, "the three runs overlapped"
    assert sorted(fake.calls[:3]) == [(n, ALL_BUT_GATEWAY) for n in ("a", "b", "gw")]
    assert fake.calls[3] == ("gw", "gateway")
    assert f"  [a]  {ALL_BUT_GATEWAY} | an operation" in lines
    assert [p.name for p in many.row("gw").phases] == ["configure", "gateway"]


def test_a_failed_configure_lets_the_others_finish_names_its_vm_and_skips_the_gateway(monkeypatch):
    fake = _Launcher(fail="b")
    monkeypatch.setattr(launcher, "configure", fake)
    lines: list[str] = []
    many = _many(["a", "b", "gw"], lines)
    error = many.configure(configure_plan(["a", "b", "gw"], "gw", None))
    assert error is not None and error.exit_code == 6
    assert error.message == "b: failed at: apt" and error.remedy == "run `aimachine configure b` again"
    assert ("gw", "gateway") not in fake.calls
    assert [r.record("configure").ok for r in many.rows] == [True, False, True]
    assert many.failed == ("b", "configure")


class _Node:
    """The Proxmox phases' stand-ins: each call recorded in order; FAIL = (VM, phase) raises there."""

    def __init__(self, monkeypatch, fail: tuple[str, str] | None = None, unverified: str | None = None):
        from aimachine import deploy
        from aimachine.proxmox import provision as prov

        self.calls: list[tuple[str, str]] = []
        self.fail = fail

        def phase(name, result=None):
            def run(run, *_):
                self.calls.append((run.vm.name, name))
                if (run.vm.name, name) == self.fail:
                    raise PhaseError(name, "the GPU is held", "stop the other VM")
                return result(run) if result else None
            return run

        def verify(d):
            self.calls.append((d.name, "verify"))
            if d.name == unverified:
                raise PhaseError("verify", "2 checks failed", f"`aimachine verify {d.name}` again")
            return "20 checks passed"

        monkeypatch.setattr(prov, "preflight", phase("preflight"))
        monkeypatch.setattr(prov, "cloud_init", phase("cloud-init"))
        monkeypatch.setattr(prov, "provision", phase("provision", lambda r: "VM created"))
        monkeypatch.setattr(prov, "boot", phase("boot", lambda r: f"192.0.2.{r.vm.vmid % 256}"))
        monkeypatch.setattr(deploy, "_verify", verify)


def _gateway_run(monkeypatch, names, **node):
    from tests.golden import GATEWAY_CATALOG

    fake, stand_in = _Launcher(together=len(names)), _Node(monkeypatch, **node)
    monkeypatch.setattr(launcher, "configure", fake)
    lines: list[str] = []
    many = ManyDeploy(str(GATEWAY_CATALOG), names, DeployOptions(), lines.append)
    many.catalog()
    return many, many.run(), fake, stand_in, lines


GW, SECOND = "vm-llm-aimachine", "vm-llm-second"


def test_a_run_goes_vm_by_vm_on_proxmox_configures_at_once_then_the_gateway_then_verifies(monkeypatch):
    many, error, fake, node, _ = _gateway_run(monkeypatch, [GW, SECOND])
    assert error is None, error and error.message
    proxmox = ["preflight", "cloud-init", "provision", "boot"]
    assert node.calls == [*((GW, p) for p in proxmox), *((SECOND, p) for p in proxmox),
                          (GW, "verify"), (SECOND, "verify")]
    assert fake.most == 2 and fake.calls[-1] == (GW, "gateway")
    summary = many.summary(error)
    assert summary[1].startswith(f"deploy {GW}, {SECOND}: done in ")
    assert summary[2].split() == ["VM", "preflight", "cloud-init", "provision", "boot", "configure",
                                  "gateway", "verify", "total"]
    assert f"  {SECOND} is at 192.0.2.141: aimachine ssh {SECOND}; aimachine bench {SECOND}" in summary


def test_a_proxmox_failure_stops_before_the_next_vm_and_names_both(monkeypatch):
    many, error, fake, node, _ = _gateway_run(monkeypatch, [GW, SECOND], fail=(GW, "provision"))
    assert error.exit_code == 4 and error.message == f"{GW}: the GPU is held"
    assert node.calls[-1] == (GW, "provision") and fake.calls == []
    assert many.summary(error)[1].startswith(f"deploy {GW}, {SECOND}: FAILED in provision ({GW}) in ")


def test_every_vm_is_verified_and_the_failures_end_the_run(monkeypatch):
    many, error, _, node, _ = _gateway_run(monkeypatch, [SECOND, GW], unverified=SECOND)
    assert [c for c in node.calls if c[1] == "verify"] == [(SECOND, "verify"), (GW, "verify")]
    assert error.exit_code == 7 and error.message == f"{SECOND}: 2 checks failed"
    assert many.failed == (SECOND, "verify")
