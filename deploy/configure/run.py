"""Run the configuration: `pyinfra -y --json inventory.py deploy/configure_vm.py` for one VM.

Progress streams as pyinfra prints it; the JSON totals give the number of changed operations
(zero on a converged VM). A failure becomes PhaseError("configure") carrying the failing operation
and its output; the VM stays up as it is, and a re-run resumes where this one stopped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deploy.catalog import Vm
from deploy.configure.inventory import NoAddress, address_of
from deploy.errors import PhaseError

PROJECT = Path(__file__).resolve().parent.parent.parent
INVENTORY = PROJECT / "inventory.py"
DEPLOY_FILE = PROJECT / "deploy" / "configure_vm.py"


@dataclass(frozen=True)
class Outcome:
    changed: int  # operations that changed something (planned to, with --dry)
    unchanged: int
    operations: list[str]  # names of the changed (or to-be-changed) operations


def vm_address(vm: Vm) -> str:
    """The address the inventory will use; no address known is a configure failure with a remedy."""
    try:
        return address_of(vm)
    except NoAddress as exc:
        raise PhaseError("configure", str(exc),
                         "run the provision step first (it records the address), or set a static ipv4 "
                         "in the catalog") from None


def pyinfra_bin() -> str:
    return str(Path(sys.executable).with_name("pyinfra"))


def progress_line(line: str) -> str | None:
    """What of pyinfra's log the admin sees while it runs: each operation and each host's result."""
    text = line.rstrip()
    if text.startswith("--> Starting operation: "):
        return "  " + text.removeprefix("--> Starting operation: ").strip()
    if text.strip().startswith("[") and text.strip().endswith(("Success", "No changes", "Error")):
        return "    " + text.strip()
    return None


def failing_operation(log: str, max_lines: int = 60) -> tuple[str, str]:
    """The last operation pyinfra started before failing, and its output (tracebacks left out)."""
    blocks = log.split("--> Starting operation: ")
    if len(blocks) < 2:
        lines = [ln for ln in log.splitlines() if ln.strip()]
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
              echo: Callable[[str], None] = print, env: dict[str, str] | None = None) -> Outcome:
    """Configure VM_NAME; return what changed. Raises PhaseError("configure") on failure."""
    run_env = {**os.environ, **(env or {}), "AIMACHINE_CATALOG": os.path.abspath(catalog_path),
               "AIMACHINE_VM": vm_name}
    if steps:
        run_env["AIMACHINE_STEPS"] = steps
    # --json without -y prints the plan and changes nothing; with -y it runs and prints the results
    argv = [pyinfra_bin(), *([] if dry else ["-y"]), "--json", str(INVENTORY), str(DEPLOY_FILE)]
    proc = subprocess.Popen(argv, cwd=PROJECT, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    log = []
    assert proc.stderr is not None and proc.stdout is not None
    for line in proc.stderr:
        log.append(line)
        shown = progress_line(line)
        if shown:
            echo(shown)
    stdout = proc.stdout.read()
    proc.wait()
    if proc.returncode != 0 or not stdout.strip():
        name, output = failing_operation("".join(log))
        raise PhaseError(
            "configure", f"{vm_name}: failed at: {name}\n{output}",
            "fix the cause shown above and run `aimachine configure "
            f"{vm_name}` again: finished steps are not repeated (the VM was left running as it is)")
    return outcome_from_json(stdout, dry)
