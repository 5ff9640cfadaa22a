"""The `aimachine` command line: argument handling and printing, nothing else."""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any

import click
import yaml

from aimachine import __version__
from aimachine.catalog.schema import CatalogError, load_catalog, vm_summary
from aimachine.cli.options import catalog_option
from aimachine.errors import EXIT_CODES, PhaseError

DEBUG_ENV = "AIMACHINE_DEBUG"
# Commands that live in their own modules, loaded when named (or for --help): `aimachine configure`
# needs none of the deploy's, Terraform's or the benchmark's code
COMMANDS = {
    "deploy": "aimachine.cli.deploy:deploy_command",
    "plan": "aimachine.cli.deploy:plan_command",
    "verify": "aimachine.cli.verify:verify_command",
    "status": "aimachine.cli.lifecycle:status_command",
    "destroy": "aimachine.cli.lifecycle:destroy_command",
    "address": "aimachine.cli.access:address_command",
    "ssh": "aimachine.cli.access:ssh_command",
    "bench": "aimachine.cli.bench:bench",
    "preflight": "aimachine.cli.proxmox:preflight",
    "provision": "aimachine.cli.proxmox:provision",
    "token-setup": "aimachine.cli.proxmox:token_setup",
    "configure": "aimachine.cli.configure:configure",
    "rehearse": "aimachine.cli.rehearse:rehearse_command",
    "tools": "aimachine.cli.tools:tools_command",
}


class AimachineGroup(click.Group):
    """Turns the tool's own errors into one clear message and the phase's exit code; loads a command's
    module when the command is named."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            module, _, attr = COMMANDS[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attr), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CatalogError as exc:
            for problem in exc.problems:
                click.echo(problem, err=True)
            count = len(exc.problems)
            click.echo(f"catalog: {count} problem{'s' if count != 1 else ''}; nothing was changed",
                       err=True)
            ctx.exit(EXIT_CODES["catalog"])
        except PhaseError as exc:
            click.echo(f"{exc.phase}: {exc.message}", err=True)
            if exc.remedy:
                click.echo(f"  remedy: {exc.remedy}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # the last guard: no traceback unless asked for
            if os.environ.get(DEBUG_ENV):
                raise
            click.echo(f"internal error: {type(exc).__name__}: {exc}", err=True)
            click.echo(f"  set {DEBUG_ENV}=1 for the traceback, and please report it", err=True)
            ctx.exit(1)


@click.group(cls=AimachineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aimachine")
def cli() -> None:
    """Deploy and check Proxmox VMs with a passed-through NVIDIA GPU serving vLLM and Ollama."""


@cli.group()
def catalog() -> None:
    """Check and inspect catalog.yml, the one source of truth."""


@catalog.command("validate")
@catalog_option
def catalog_validate(catalog_path: str) -> None:
    """Check every entry; list all problems with file, line and field (exit 2)."""
    from aimachine.catalog import gateway
    from aimachine.catalog.gpu_budget import overcommit
    from aimachine.proxmox.cloudinit import key_file_problems

    cat = load_catalog(catalog_path)
    if problems := key_file_problems(cat) + gateway.key_file_problems(cat):
        raise CatalogError(problems)
    names = ", ".join(f"{vm.name} ({vm.vmid})" for vm in cat.vms)
    click.echo(f"{catalog_path}: ok: {len(cat.vms)} VM{'s' if len(cat.vms) != 1 else ''}: {names}")
    if cat.gateway.vm:
        routes = len(cat.gateway.routes)
        click.echo(f"gateway on {cat.gateway.vm}: {routes} model name{'s' if routes != 1 else ''} "
                   f"({', '.join(r.name for r in cat.gateway.routes)})")
    for vm in cat.vms:
        if warning := overcommit(vm):
            click.echo(f"warn {vm.name}: {warning}")


@catalog.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@catalog_option
def catalog_show(name: str, as_json: bool, catalog_path: str) -> None:
    """Print VM NAME as resolved: catalog values with defaults applied."""
    cat = load_catalog(catalog_path)
    data = vm_summary(cat, cat.vm(name))
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False).rstrip())


def main() -> None:
    cli(prog_name="aimachine")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
