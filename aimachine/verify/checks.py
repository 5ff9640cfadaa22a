"""`aimachine verify`: the acceptance checks a live VM can prove, as data.

Each check has a name, the command that gathers the evidence (on the VM over SSH, or here for
ping), what is expected, a pure judge (aimachine/verify/judges.py) and a remedy. Commands run through an
executor: live over SSH, or replayed from a recording (`--record` writes one) so the judging can be
checked on outputs of real machines.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aimachine.catalog.schema import Vm
from aimachine.errors import PhaseError
from aimachine.guest.rendered import GATEWAY_KEY_ENV, GATEWAY_SERVICE, VLLM_VENV, probe_url
from aimachine.reach import ssh
from aimachine.verify import judges as judge
from aimachine.verify.judges import Output, Verdict

TROUBLESHOOTING = "docs/TROUBLESHOOTING.md"


@dataclass(frozen=True)
class Check:
    name: str
    command: str
    expected: str
    judge: Callable[[Output], Verdict]
    remedy: str
    where: str = "vm"  # "vm": over SSH; "local": on this machine
    wait_s: float = 0  # keep retrying a failing check this long (a model still loading)


@dataclass
class CheckResult:
    name: str
    command: str
    expected: str
    found: str
    passed: bool
    remedy: str = ""


@dataclass
class Report:
    vm: str
    address: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    def to_json(self) -> dict[str, Any]:
        return {"vm": self.vm, "address": self.address, "passed": self.passed,
                "checks": [asdict(r) for r in self.results]}


def checks_for(vm: Vm, address: str, health_wait_s: float = 600) -> list[Check]:
    """The checks for `vm` (reachable at `address`), with expectations from the catalog."""
    gpu, ollama, vllm = vm.gpu, vm.services.ollama, vm.services.vllm
    query = "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader"
    units = [u for u, s in (("vllm", vllm), ("ollama", ollama)) if s.enabled]
    binds = {s.bind: s.expose for s in (vllm, ollama) if s.enabled}
    if vm.runs_gateway:
        units.append(GATEWAY_SERVICE.removesuffix(".service"))
        binds[vm.runs_gateway.bind] = True  # the gateway is there to be reached
    out: list[Check] = [
        Check("ping", f"ping -c 3 -W 2 {address}", "replies", judge.ping,
              "check the VM is running (aimachine status) and that this machine can route to it",
              where="local"),
        Check("ssh", "hostname", f"login as {vm.login.user}, host name {vm.name}",
              lambda o: judge.ssh_login(o, vm.name),
              f"check the key in {vm.login.ssh_public_key_file} and `cloud-init status` on the console"),
        Check("lspci", "lspci -nn", f"[{gpu.vendor_device}] on the PCI bus",
              lambda o: judge.lspci_has(o, gpu.vendor_device),
              "the GPU is not passed through: check hostpci0 and the PCI mapping (aimachine preflight)"),
        Check("gpu-name", query, gpu.name, lambda o: judge.gpu_name(o, gpu.name),
              "nvidia-smi must see the card: see the driver checks and " + TROUBLESHOOTING),
        Check("gpu-memory", query, f">= {gpu.min_memory_mib} MiB",
              lambda o: judge.gpu_memory(o, gpu.min_memory_mib),
              "a smaller card is passed through: check gpu.pci_address in the catalog"),
        Check("driver-version", query, "a driver version", judge.driver_version,
              "reinstall the driver: aimachine configure " + vm.name),
        Check("driver-open", "dpkg-query -W -f='${Package} ${Status}\\n' 'nvidia-driver-*'",
              "only nvidia-driver-NNN-open installed", judge.open_driver_package,
              "RTX 50 cards need the open modules: remove the closed driver, then aimachine configure"),
        Check("dmesg", "sudo -n dmesg", "no NVIDIA errors", judge.dmesg_clean,
              "see 'RmInitAdapter failed' and 'Xid' in " + TROUBLESHOOTING + " (BIOS Above-4G/ReBAR, reset)"),
        Check("nvcc", "bash -lc 'nvcc --version'", "CUDA 12.8 or newer", judge.nvcc_version,
              "install the toolkit and /etc/profile.d/cuda.sh: aimachine configure " + vm.name),
    ]
    if vllm.enabled:
        health = probe_url(vllm.bind, "/health")
        out += [
            Check("vllm-venv", f"{VLLM_VENV}/bin/python -c 'import vllm; print(vllm.__version__)'",
                  vllm.version, lambda o: judge.last_line(o, vllm.version),
                  "reinstall vLLM in its venv: aimachine configure " + vm.name),
            Check("vllm-unit", "systemctl cat vllm.service >/dev/null && systemctl is-active vllm",
                  "active", lambda o: judge.exact_text(o, "active"),
                  "journalctl -u vllm -n 100 shows why it stopped"),
            Check("vllm-health", f"curl -s -o /dev/null -m 10 -w '%{{http_code}}' {health}", "HTTP 200",
                  judge.http_status, "journalctl -u vllm: 503 means the engine died; see "
                  + TROUBLESHOOTING + " (free VRAM, no kernel image)", wait_s=health_wait_s),
            Check("vllm-model", f"curl -s -m 10 {probe_url(vllm.bind, '/v1/models')}", vllm.model,
                  lambda o: judge.served_model(o, vllm.model),
                  "the unit must serve the catalog's name (--served-model-name): aimachine configure "
                  + vm.name),
            Check("vllm-gpu", _GPU_PROCESSES, "a vllm.service process holds GPU memory",
                  lambda o: judge.process_on_gpu(o, "vllm.service"),
                  "vLLM runs without the GPU: journalctl -u vllm, nvidia-smi"),
        ]
    if ollama.enabled:
        out += [
            Check("ollama-path", "command -v ollama", "/usr/local/bin/ollama",
                  lambda o: judge.exact_text(o, "/usr/local/bin/ollama"),
                  "reinstall Ollama: aimachine configure " + vm.name),
            Check("ollama-version", "ollama --version", ollama.version,
                  lambda o: judge.ollama_version(o, ollama.version),
                  "the installed Ollama differs from the catalog: aimachine configure " + vm.name),
            Check("ollama-active", "systemctl is-active ollama", "active",
                  lambda o: judge.exact_text(o, "active"), "journalctl -u ollama -n 100 shows why"),
            Check("ollama-list", f"OLLAMA_HOST={ollama.bind} ollama list",
                  "the model table" + (f" with {', '.join(ollama.models)}" if ollama.models else ""),
                  lambda o: judge.ollama_list(o, list(ollama.models)),
                  "pull the missing models: aimachine configure " + vm.name),
            Check("ollama-gpu", "journalctl -u ollama --no-pager -o cat | grep 'inference compute'",
                  "library=CUDA", judge.ollama_on_gpu,
                  "Ollama fell back to the CPU: check nvidia-smi, then systemctl restart ollama; see "
                  + TROUBLESHOOTING),
        ]
    if vm.runs_gateway:
        out += gateway_checks(vm)
    if units:
        out += [
            Check("services-not-root", " ; ".join(
                f"echo {u} $(ps -o user= -p $(systemctl show -p MainPID --value {u}))" for u in units),
                  "no service runs as root", judge.unit_users,
                  "the units must set User=: aimachine configure " + vm.name),
            Check("listeners", "ss -ltnH", ", ".join(binds),
                  lambda o: judge.listeners(o, binds),
                  "the services must bind where the catalog says: aimachine configure " + vm.name),
        ]
    return out


def gateway_checks(vm: Vm) -> list[Check]:
    """The gateway on the VM that runs it: its unit, LiteLLM's liveness (no key needed), and every route
    the catalog derives listed by its /v1/models, asked with the master key read on the VM itself (root's
    EnvironmentFile: the key never crosses to this machine or into the output)."""
    assert vm.runs_gateway is not None
    names = [r.name for r in vm.runs_gateway.routes]
    unit = GATEWAY_SERVICE.removesuffix(".service")
    models = probe_url(vm.runs_gateway.bind, "/v1/models")
    alive = probe_url(vm.runs_gateway.bind, "/health/liveliness")
    return [
        Check("gateway-unit", f"systemctl is-active {unit}", "active",
              lambda o: judge.exact_text(o, "active"), f"journalctl -u {unit} -n 100 shows why it stopped"),
        Check("gateway-health", f"curl -s -o /dev/null -m 10 -w '%{{http_code}}' {alive}", "HTTP 200",
              judge.http_status, f"journalctl -u {unit}: LiteLLM did not start", wait_s=60),
        Check("gateway-models",
              f"sudo -n sh -c '. {GATEWAY_KEY_ENV} && curl -s -m 10 -H \"Authorization: Bearer "
              f"$LITELLM_MASTER_KEY\" {models}'",
              ", ".join(names), lambda o: judge.served_models(o, names),
              "the gateway's config must list the catalog's routes: aimachine configure " + vm.name),
    ]


# GPU compute processes with their cgroup, so a process can be tied to its systemd unit.
_GPU_PROCESSES = ("for p in $(nvidia-smi --query-compute-apps=pid --format=csv,noheader); do "
                  "echo \"$p $(head -1 /proc/$p/cgroup)\"; done")


class Executor(Protocol):
    def __call__(self, check: Check) -> Output: ...


def live_executor(target: ssh.SshTarget) -> Executor:
    def execute(check: Check) -> Output:
        if check.where == "local":
            try:
                done = subprocess.run(check.command.split(), capture_output=True, text=True,
                                      timeout=30, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return Output(127, "", str(exc))
            return Output(done.returncode, done.stdout, done.stderr)
        done = ssh.run(target, check.command, timeout=60)
        return Output(done.returncode, done.stdout, done.stderr)

    return execute


def replay_executor(recording: dict[str, Any]) -> Executor:
    """Answers each check with the output recorded under its name (missing: command not found)."""
    outputs = recording.get("outputs", {})

    def execute(check: Check) -> Output:
        got = outputs.get(check.name)
        if got is None:
            return Output(127, "", f"no recorded output for {check.name}")
        return Output(int(got.get("rc", 0)), got.get("stdout", ""), got.get("stderr", ""))

    return execute


def run_checks(checks: list[Check], execute: Executor, report: Report,
               progress: Callable[[str], None] = lambda _: None,
               record: dict[str, Any] | None = None, poll_s: float = 5) -> Report:
    """Run every check (none stops the others); a check with wait_s retries until it passes."""
    for check in checks:
        deadline = time.monotonic() + check.wait_s
        while True:
            output = execute(check)
            verdict = check.judge(output)
            if verdict.passed or time.monotonic() + poll_s > deadline:
                break
            progress(f"{check.name}: {verdict.found}; waiting (up to {check.wait_s:.0f} s)")
            time.sleep(poll_s)
        if record is not None:
            record.setdefault("outputs", {})[check.name] = {
                "command": check.command, "rc": output.rc, "stdout": output.stdout,
                "stderr": output.stderr}
        remedy = "" if verdict.passed else verdict.remedy or check.remedy
        report.results.append(CheckResult(check.name, check.command, check.expected, verdict.found,
                                          verdict.passed, remedy))
    return report


def raise_if_failed(report: Report, more_remedy: str = "") -> None:
    """The verify phase's error when any check failed: which ones; each carries its own remedy."""
    failed = [r.name for r in report.results if not r.passed]
    if failed:
        raise PhaseError("verify", f"{len(failed)} check(s) failed: {', '.join(failed)}",
                         "see the remedy under each failed check" + more_remedy)


def load_recording(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def render_table(report: Report) -> str:
    """A table for people: one row per check, the remedy under each failed one."""
    width = max((len(r.name) for r in report.results), default=5)
    lines = [f"verify {report.vm} ({report.address})"]
    for r in report.results:
        mark = "ok  " if r.passed else "FAIL"
        lines.append(f"  {mark} {r.name:<{width}}  {r.found}")
        if not r.passed:
            lines.append(f"       {'':<{width}}  expected: {r.expected}")
            lines.append(f"       {'':<{width}}  remedy:   {r.remedy}")
    failed = sum(not r.passed for r in report.results)
    total = len(report.results)
    lines.append(f"{total - failed}/{total} checks passed" + ("" if not failed else f"; {failed} failed"))
    return "\n".join(lines)
