"""The `aimachine` command line: argument handling and printing, nothing else."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click
import yaml

from deploy import __version__
from deploy.catalog.schema import CatalogError, load_catalog, vm_summary
from deploy.cli import access as cli_access
from deploy.cli import bench as cli_bench
from deploy.cli import configure as cli_configure
from deploy.cli import deploy as cli_deploy
from deploy.cli import lifecycle as cli_lifecycle
from deploy.cli import proxmox as cli_proxmox
from deploy.cli import rehearse as cli_rehearse
from deploy.cli import verify as cli_verify
from deploy.cli.options import catalog_option
from deploy.errors import EXIT_CODES, PhaseError

DEBUG_ENV = "AIMACHINE_DEBUG"


class AimachineGroup(click.Group):
    """Turns the tool's own errors into one clear message and the phase's exit code."""

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
    cat = load_catalog(catalog_path)
    names = ", ".join(f"{vm.name} ({vm.vmid})" for vm in cat.vms)
    click.echo(f"{catalog_path}: ok: {len(cat.vms)} VM{'s' if len(cat.vms) != 1 else ''}: {names}")


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


# Commands that live in their own modules register here, one line each.
cli.add_command(cli_deploy.deploy_command)
cli.add_command(cli_deploy.plan_command)
cli.add_command(cli_verify.verify_command)
cli.add_command(cli_lifecycle.status_command)
cli.add_command(cli_lifecycle.destroy_command)
cli.add_command(cli_access.address_command)
cli.add_command(cli_access.ssh_command)
cli.add_command(cli_bench.bench)
cli.add_command(cli_proxmox.preflight)
cli.add_command(cli_proxmox.provision)
cli.add_command(cli_proxmox.token_setup)
cli.add_command(cli_configure.configure)
cli.add_command(cli_rehearse.rehearse_command)


def main() -> None:
    cli(prog_name="aimachine")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
