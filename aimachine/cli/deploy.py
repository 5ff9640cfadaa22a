"""`aimachine deploy` and `aimachine plan`: the whole run, or what it would change."""

from __future__ import annotations

import click

from aimachine.cli.options import allow_replace_option, catalog_option, terraform_bin_option
from aimachine.deploy import (
    PHASES,
    DeployOptions,
    DeployRun,
    deploy_phases,
    phases_until,
    plan_phases,
    summary,
)
from aimachine.phases import run_phases


def _run(name: str, catalog_path: str, options: DeployOptions, dry_run: bool,
         until: str | None = None) -> None:
    d = DeployRun(catalog_path, name, options, click.echo)
    phases = plan_phases(d) if dry_run else deploy_phases(d)
    record = run_phases(phases_until(phases, until), click.echo, total=len(phases))
    if dry_run:
        click.echo(f"plan {name}: " + ("FAILED" if record.failed else "nothing was changed"))
        for phase in record.phases:  # a failure's reason follows once, on stderr, with its remedy
            click.echo(f"  {phase.name}: {(phase.detail or 'ok') if phase.ok else 'FAILED'}")
    else:
        for line in summary(d, record):
            click.echo(line)
    if record.failed:
        raise record.failed


def _options(func):
    for option in reversed([
        terraform_bin_option,
        click.option("--steps", metavar="LIST",
                     help="Configure only these steps (comma separated; default: all)."),
        click.option("-v", "--verbose", is_flag=True, help="Also print what preflight read."),
        catalog_option,
    ]):
        func = option(func)
    return func


@click.command("deploy")
@click.argument("name")
@click.option("--dry-run", is_flag=True, help="Same as `aimachine plan`: show what would change.")
@click.option("--health-timeout", default=600, show_default=True, type=float,
              help="Seconds verify waits for vLLM's /health while the model loads.")
@click.option("--until", type=click.Choice(PHASES), metavar="PHASE",
              help=f"Stop after this phase ({', '.join(PHASES)}).")
@allow_replace_option
@_options
def deploy_command(name: str, dry_run: bool, health_timeout: float, until: str | None, allow_replace: bool,
                   terraform_bin: str | None, steps: str | None, verbose: bool, catalog_path: str) -> None:
    """Deploy VM NAME: catalog, preflight, cloud-init, provision, boot, configure, verify.

    Exit codes: catalog 2, preflight 3, provision 4, boot 5, configure 6, verify 7. A re-run on a
    deployed VM changes nothing."""
    if until and dry_run:
        raise click.UsageError("--until and --dry-run do not go together")
    options = DeployOptions(terraform_bin, health_timeout, verbose, steps, until, allow_replace)
    _run(name, catalog_path, options, dry_run, until)


@click.command("plan")
@click.argument("name")
@_options
def plan_command(name: str, terraform_bin: str | None, steps: str | None, verbose: bool,
                 catalog_path: str) -> None:
    """Show what a deploy of VM NAME would change: preflight, terraform plan, pyinfra --dry."""
    _run(name, catalog_path, DeployOptions(terraform_bin, verbose=verbose, steps=steps), True)
