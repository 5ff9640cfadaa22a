"""Run the configuration: `pyinfra -y --json pyinfra_inventory.py vm.py` (both in aimachine/configure/) for
one VM.

Progress streams as pyinfra prints it, with a heartbeat line while one operation runs silently for
long (a model pull, `pip install vllm`); the JSON totals give the number of changed operations
(zero on a converged VM). A failure becomes PhaseError("configure") carrying the failing operation
and its output; the VM stays up as it is, and a re-run resumes where this one stopped.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from aimachine.catalog.schema import Vm
from aimachine.configure.inventory import address_of
from aimachine.errors import PhaseError
from aimachine.packaged import packaged
from aimachine.phases import format_duration
from aimachine.reach.address import NoAddress, no_address_remedy
from aimachine.transfers import FETCHED

# pyinfra's two files, shipped in the package: configure runs from any directory, a checkout or not
INVENTORY = packaged("configure", "pyinfra_inventory.py")
DEPLOY_FILE = packaged("configure", "vm.py")
NOTE = "NOTE: "  # a log line that `aimachine configure` shows among its progress lines
# the configuration steps (configure/steps.py: one @deploy each), in the order they run; security first:
# the firewall and sshd are hardened before any service listens; the first-boot update (and its reboot)
# comes before the driver, which is built for the kernel that runs; the model fetch starts right after
# it (a reboot would cut it short) and runs in the background of every install after it; the gateway (on
# its VM only) comes after the engines it fronts
STEP_NAMES = ("base", "security", "update", "models", "nvidia", "cuda", "vllm", "ollama", "gateway",
              "monitoring")
HEARTBEAT_S = 30.0  # pyinfra prints nothing while an operation runs: say so after this much silence
OPERATION = "--> Starting operation: "


def select(names: str | None) -> list[str]:
    """A comma list of step names (None or empty: all), in the canonical order; unknown names raise."""
    if not names:
        return list(STEP_NAMES)
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in STEP_NAMES]
    if unknown:
        raise ValueError(f"unknown configuration step {', '.join(unknown)}; known: {', '.join(STEP_NAMES)}")
    return [n for n in STEP_NAMES if n in wanted]


LONG_S = 30.0  # an operation the summary names among where the time went


@dataclass(frozen=True)
class Outcome:
    changed: int  # operations that changed something (planned to, with --dry)
    unchanged: int
    operations: list[str]  # names of the changed (or to-be-changed) operations
    timings: tuple[tuple[str, float], ...] = ()  # each operation that ran, and its seconds
    fetched: tuple[str, ...] = ()  # "fetched MODEL: SIZE in TIME (RATE)", one per download

    def where_the_time_went(self, long_s: float = LONG_S) -> list[str]:
        """The downloads with their bytes and rate, then the operations that took LONG_S or more."""
        long_ops = sorted((t for t in self.timings if t[1] >= long_s), key=lambda t: -t[1])
        return [*self.fetched, *(f"{format_duration(s)}  {name}" for name, s in long_ops)]


def vm_address(vm: Vm) -> str:
    """The address the inventory will use; no address known is a configure failure with a remedy."""
    try:
        return address_of(vm)
    except NoAddress as exc:
        raise PhaseError("configure", str(exc), no_address_remedy(vm)) from None


def pyinfra_bin() -> str:
    return str(Path(sys.executable).with_name("pyinfra"))


def progress_line(line: str) -> str | None:
    """What of pyinfra's log the admin sees while it runs: each operation and each host's result."""
    text = line.rstrip()
    if text.startswith(OPERATION):
        return "  " + text.removeprefix(OPERATION).strip()
    if text.strip().startswith("[") and text.strip().endswith(("Success", "No changes", "Error")):
        return "    " + text.strip()
    if text.strip().startswith(NOTE):
        return "  " + text.strip()
    return None


class Progress:
    """The admin's view of pyinfra's log: the progress lines, and which operation runs for how long."""

    def __init__(self, echo: Callable[[str], None], clock: Callable[[], float] = time.monotonic):
        self.echo, self.clock = echo, clock
        self.current, self.since = "connecting and reading facts", clock()
        self.timings: list[tuple[str, float]] = []
        self.fetched: list[str] = []
        self._operation = False  # whether `current` is an operation (not a phase of pyinfra's own)

    def line(self, line: str) -> bool:
        """Show LINE if the admin should see it; True when something was shown."""
        text = line.strip()
        if text.startswith("--> "):  # an operation, or a phase such as "Preparing operation files..."
            self.close()
            self._operation = text.startswith(OPERATION)
            self.current = text.removeprefix(OPERATION).removeprefix("--> ").rstrip(".").strip()
            self.since = self.clock()
        if text.startswith(NOTE + FETCHED):  # a finished download (configure/models.py)
            self.fetched.append(text.removeprefix(NOTE))
        shown = progress_line(line)
        if shown:
            self.echo(shown)
        return shown is not None

    def close(self) -> None:
        """The operation that ran until now has ended: keep its time."""
        if self._operation:
            self.timings.append((self.current, self.clock() - self.since))
            self._operation = False

    def heartbeat(self) -> None:
        self.echo(f"  ... still running: {self.current} ({format_duration(self.clock() - self.since)})")


class Lines(Protocol):
    def get(self, timeout: float) -> str | None: ...  # None: the stream ended; queue.Empty: nothing yet


def read_in_background(stream: IO[str]) -> Lines:
    """STREAM's lines through a queue a thread fills, so a silent stream never blocks the heartbeat."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def follow(lines: Lines, on_line: Callable[[str], bool], on_silence: Callable[[], None],
           interval: float = HEARTBEAT_S, clock: Callable[[], float] = time.monotonic) -> None:
    """Feed each of LINES to ON_LINE until they end; call ON_SILENCE after every INTERVAL seconds (on
    CLOCK) in which ON_LINE showed nothing."""
    deadline = clock() + interval
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - clock()))
        except queue.Empty:
            on_silence()
            deadline = clock() + interval
            continue
        if line is None:
            return
        if on_line(line):
            deadline = clock() + interval


# pyinfra's words when it cannot log in (pyinfra/connectors/ssh.py, ssh_util.py), and what to do
_KEY_MISSING = re.compile(r"No such private key file: (?P<key>[^\n]+)")
_KEY_INVALID = re.compile(r"Invalid private key file: (?P<key>[^\n]+)")
_AUTH = re.compile(r"Authentication error \(username=(?P<user>[^,]+), key=(?P<key>[^)]+)\)")
_NO_CONNECT = re.compile(r"\[(?P<host>[^\]]+)\] (?P<why>Could not connect.*)")


def connection_problem(log: str, vm_name: str) -> tuple[str, str] | None:
    """(message, remedy) when pyinfra could not log in to the VM; None for any other failure. The last
    match counts: a traceback before it quotes the source line that raised."""

    def last(pattern: re.Pattern) -> re.Match | None:
        return next(reversed(list(pattern.finditer(log))), None)

    if found := last(_KEY_MISSING):
        return (f"{vm_name}: the private key {found['key']} does not exist",
                "set login.ssh_private_key_file in the catalog to the key matching login.ssh_public_key_file")
    if found := last(_KEY_INVALID):
        return (f"{vm_name}: {found['key']} is not a private key pyinfra can read (a passphrase-protected "
                "key needs ssh-agent)",
                "point login.ssh_private_key_file at the private key, or `ssh-add` it and re-run")
    if found := last(_AUTH):
        return (f"{vm_name}: the VM refused the key {found['key']} for {found['user']}",
                "the VM has the public key cloud-init gave it at its first boot: use the private key of "
                "login.ssh_public_key_file (login.ssh_private_key_file), or `ssh-add` it and re-run")
    if found := last(_NO_CONNECT):
        return (f"{vm_name}: {found['host']}: {found['why']}",
                "check that the VM runs (`aimachine status`) and that this machine reaches it on SSH")
    return None


def failing_operation(log: str, max_lines: int = 60) -> tuple[str, str]:
    """The last operation pyinfra started before failing, and its output (tracebacks left out)."""
    blocks = log.split(OPERATION)
    if len(blocks) < 2:
        lines = [ln for ln in _without_traceback(log.splitlines()) if ln.strip()]
        return "before any operation (connecting or loading the deploy)", "\n".join(lines[-max_lines:])
    name, _, body = blocks[-1].partition("\n")
    lines = [ln.strip() for ln in _without_traceback(body.split("\n--> ", 1)[0].splitlines())]
    # a ConfigureStop's message is already the operation's name
    noise = ("ConfigureStop", "executed 0 commands")
    lines = [ln for ln in lines if ln and not any(n in ln for n in noise)]
    return name.strip(), "\n".join(lines[-max_lines:])


def _without_traceback(lines: list[str]) -> list[str]:
    """Python tracebacks (pyinfra prints one for an exception in an operation) say nothing to an admin."""
    kept, in_traceback = [], False
    for line in lines:
        if line.strip().startswith("Traceback (most recent call last)"):
            in_traceback = True
        elif in_traceback and line and not line.startswith(" "):
            in_traceback = False  # the exception line ends the traceback; it is dropped with it
            continue
        if not in_traceback:
            kept.append(line)
    return kept


def outcome_from_json(stdout: str, dry: bool) -> Outcome:
    data = json.loads(stdout)
    if dry:
        ops = [op for op in data["plan"] if op["hosts_with_change"] or op["hosts_with_conditional_change"]]
        return Outcome(len(ops), len(data["plan"]) - len(ops), [op["name"] for op in ops])
    results = data["results"]
    changed = [op["name"] for op in results["operations"] if op["success"]]
    return Outcome(results["totals"]["success"], results["totals"]["no_change"], changed)


def configure(catalog_path: str, vm_name: str, dry: bool = False, steps: str | None = None,
              echo: Callable[[str], None] = print, env: dict[str, str] | None = None,
              upgrade_driver: bool = False, heartbeat_s: float = HEARTBEAT_S) -> Outcome:
    """Configure VM_NAME; return what changed. Raises PhaseError("configure") on failure.

    UPGRADE_DRIVER runs only the nvidia step, which then moves the held driver (--upgrade-driver)."""
    run_env = {**os.environ, **(env or {}), "AIMACHINE_CATALOG": os.path.abspath(catalog_path),
               "AIMACHINE_VM": vm_name}
    run_env["AIMACHINE_UPGRADE_DRIVER"] = "1" if upgrade_driver else "0"  # never from the caller's shell
    if upgrade_driver:
        steps = "nvidia"
    if steps:
        run_env["AIMACHINE_STEPS"] = steps
    # --json without -y prints the plan and changes nothing; with -y it runs and prints the results
    argv = [pyinfra_bin(), *([] if dry else ["-y"]), "--json", str(INVENTORY), str(DEPLOY_FILE)]
    cwd = os.path.dirname(os.path.abspath(catalog_path))
    proc = subprocess.Popen(argv, cwd=cwd, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    log: list[str] = []
    progress = Progress(echo)
    assert proc.stderr is not None and proc.stdout is not None
    out: list[str] = []  # read beside stderr: a large JSON result must not fill the pipe and stall pyinfra
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)
    reader.start()

    def on_line(line: str) -> bool:
        log.append(line)
        return progress.line(line)

    follow(read_in_background(proc.stderr), on_line, progress.heartbeat, heartbeat_s)
    progress.close()
    reader.join()
    stdout = "".join(out)
    proc.wait()
    if proc.returncode != 0 or not stdout.strip():
        if problem := connection_problem("".join(log), vm_name):
            raise PhaseError("configure", *problem)
        name, output = failing_operation("".join(log))
        raise PhaseError(
            "configure", f"{vm_name}: failed at: {name}\n{output}",
            "fix the cause shown above and run `aimachine configure "
            f"{vm_name}` again: finished steps are not repeated (the VM was left running as it is)")
    outcome = outcome_from_json(stdout, dry)
    return dataclasses.replace(outcome, timings=tuple(progress.timings), fetched=tuple(progress.fetched))
