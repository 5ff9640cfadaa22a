"""Terraform (or OpenTofu) as a subprocess: one workspace per VM, the catalog path and VM name as
variables, progress streamed line by line, output kept for error translation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aimachine.errors import PhaseError
from aimachine.packaged import packaged
from aimachine.proxmox.tfplan import Plan, read_plan
from aimachine.reach import state

BIN_ENV, DIR_ENV = "AIMACHINE_TERRAFORM", "AIMACHINE_TERRAFORM_DIR"
VM_ADDRESS = "proxmox_virtual_environment_vm.vm"
MAPPING_ADDRESS = "proxmox_hardware_mapping_pci.gpu"  # [0] when this workspace manages it
MODULE_DIR = packaged("terraform")  # the module's .tf files, shipped in the package


def workspace_dir() -> Path:
    """Where Terraform runs and keeps each VM's workspace: $AIMACHINE_TERRAFORM_DIR, else `terraform/` in the
    state directory beside the catalog (.aimachine/), never inside the installed package, which an
    upgrade replaces."""
    return Path(os.environ.get(DIR_ENV) or state.state_dir() / "terraform")


def sync_module(workdir: Path) -> None:
    """The module's .tf files in WORKDIR as the package ships them; its state and .terraform/ untouched."""
    workdir.mkdir(parents=True, exist_ok=True)
    shipped = {p.name: p.read_text() for p in MODULE_DIR.glob("*.tf")}
    for stale in workdir.glob("*.tf"):
        if stale.name not in shipped:
            stale.unlink()
    for name, text in shipped.items():
        target = workdir / name
        if not target.is_file() or target.read_text() != text:
            target.write_text(text)


def adopt_checkout_state(workdir: Path, catalog_dir: Path) -> Path | None:
    """Copy the workspaces an older release kept in the checkout (terraform/terraform.tfstate.d beside the
    catalog) into WORKDIR once, so a re-run finds the VMs it made; returns what was copied, if anything."""
    old = catalog_dir / "terraform" / "terraform.tfstate.d"
    new = workdir / "terraform.tfstate.d"
    if new.exists() or not old.is_dir() or old.resolve() == new.resolve():
        return None
    shutil.copytree(old, new)
    return old


class TerraformError(Exception):
    def __init__(self, command: str, code: int, output: str):
        super().__init__(f"terraform {command} exited {code}")
        self.command, self.code, self.output = command, code, output


def resolve_binary(option: str | None) -> str:
    """--terraform-bin, else $AIMACHINE_TERRAFORM, else `terraform`; must be executable."""
    name = option or os.environ.get(BIN_ENV) or "terraform"
    found = shutil.which(name)
    if not found:
        raise PhaseError("provision", f"Terraform binary {name!r} not found",
                         "install Terraform >= 1.5 or OpenTofu (`nix develop` brings it), or name it with "
                         f"--terraform-bin / {BIN_ENV}")
    return found


@dataclass
class Terraform:
    binary: str
    catalog_path: str
    vm_name: str
    echo: Callable[[str], None]
    redact: Callable[[str], str] = field(default=lambda s: s)
    workdir: Path = field(default_factory=lambda: workspace_dir())
    # False when the catalog's PCI mapping existed before this workspace: used by name, never changed.
    manage_mapping: bool = True

    def _vars(self) -> list[str]:
        return ["-var", f"catalog_path={os.path.abspath(self.catalog_path)}",
                "-var", f"vm_name={self.vm_name}",
                "-var", f"manage_mapping={'true' if self.manage_mapping else 'false'}"]

    @property
    def plan_file(self) -> Path:
        return self.workdir / f"{self.vm_name}.tfplan"

    def _run(self, *args: str, ok_codes: tuple[int, ...] = (0,), quiet: bool = False) -> tuple[int, str]:
        env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
        proc = subprocess.Popen([self.binary, *args], cwd=self.workdir, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        lines = []
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = self.redact(raw.rstrip("\n"))
            lines.append(line)
            if not quiet and line.strip():
                self.echo(f"  {line}")
        code = proc.wait()
        output = "\n".join(lines)
        if code not in ok_codes:
            raise TerraformError(args[0], code, output)
        return code, output

    def init(self) -> None:
        sync_module(self.workdir)
        moved = adopt_checkout_state(self.workdir, Path(self.catalog_path).resolve().parent)
        if moved:
            self.echo(f"  Terraform state: copied {moved} to {self.workdir} (the workspaces now live beside "
                      "the catalog; the old copy is left as it was)")
        self._run("init", "-input=false", "-no-color")
        self._run("workspace", "select", "-or-create=true", self.vm_name, "-no-color")

    def state_list(self) -> list[str]:
        """The addresses in this workspace's state; none before its first apply."""
        code, out = self._run("state", "list", quiet=True, ok_codes=(0, 1))
        if code == 1 and "No state file was found" not in out:
            raise TerraformError("state list", code, out)
        return out.split() if code == 0 else []

    def state_rm(self, address: str) -> None:
        self._run("state", "rm", "-no-color", address, quiet=True)

    def plan(self) -> Plan:
        """Plan into plan_file and read it back as JSON: what apply of that file would do."""
        code, _ = self._run("plan", "-input=false", "-no-color", "-detailed-exitcode",
                            f"-out={self.plan_file}", *self._vars(), ok_codes=(0, 2))
        _, shown = self._run("show", "-json", "-no-color", str(self.plan_file), quiet=True)
        plan = read_plan(json.loads(shown))
        if code == 0 and plan.has_changes:  # -detailed-exitcode and the JSON never disagree
            raise TerraformError("plan", code, "the plan file lists changes the plan did not report")
        return plan

    def discard_plan(self) -> None:
        self.plan_file.unlink(missing_ok=True)

    def apply(self) -> None:
        """Apply exactly the saved plan, so what was checked is what changes."""
        try:
            self._run("apply", "-input=false", "-no-color", "-auto-approve", str(self.plan_file))
        finally:
            self.discard_plan()

    def destroy_vm(self) -> None:
        self._run("destroy", "-input=false", "-no-color", "-auto-approve", f"-target={VM_ADDRESS}",
                  *self._vars())

    def outputs(self) -> dict[str, Any]:
        _, out = self._run("output", "-json", "-no-color", quiet=True)
        return {k: v.get("value") for k, v in json.loads(out or "{}").items()}
