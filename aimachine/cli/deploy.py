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
@click.argument("names", nargs=-1, metavar="NAME...")
@click.option("--all", "every", is_flag=True, help="Every VM of the catalog, in the catalog's order.")
@click.option("--dry-run", is_flag=True, help="Same as `aimachine plan`: show what would change.")
@click.option("--health-timeout", default=600, show_default=True, type=float,
              help="Seconds verify waits for vLLM's /health while the model loads.")
@click.option("--until", type=click.Choice(PHASES), metavar="PHASE",
              help=f"Stop after this phase ({', '.join(PHASES)}).")
@allow_replace_option
@_options
def deploy_command(names: tuple[str, ...], every: bool, dry_run: bool, health_timeout: float,
                   until: str | None, allow_replace: bool, terraform_bin: str | None, steps: str | None,
                   verbose: bool, catalog_path: str) -> None:
    """Deploy VM NAME: catalog, preflight, cloud-init, provision, boot, configure, verify.

    Several NAMEs (or --all): preflight, cloud-init, provision and boot one VM at a time (a failure stops
    before the next VM's), then configure every VM at once (one pyinfra run each), the gateway step on the
    gateway's VM after them, verify each VM, and one summary.

    Exit codes: catalog 2, preflight 3, provision 4, boot 5, configure 6, verify 7. A re-run on a
    deployed VM changes nothing."""
    if until and dry_run:
        raise click.UsageError("--until and --dry-run do not go together")
    if every == bool(names):
        raise click.UsageError("name the VMs to deploy, or --all (not both)")
    options = DeployOptions(terraform_bin, health_timeout, verbose, steps, until, allow_replace)
    if len(names) == 1:
        _run(names[0], catalog_path, options, dry_run, until)
        return
    from aimachine.configure.launcher import select
    from aimachine.deploy_many import deploy_many, load_names

    chosen = load_names(catalog_path, names, every)
    if len(chosen) == 1:  # --all with a one-VM catalog, or one name given twice
        _run(chosen[0], catalog_path, options, dry_run, until)
        return
    try:
        select(steps)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--steps") from None
    if dry_run:
        for name in chosen:  # one plan after another; the first that fails ends the run
            _run(name, catalog_path, options, True)
        return
    if error := deploy_many(catalog_path, chosen, options, click.echo):
        raise error


@click.command("plan")
@click.argument("name")
@_options
def plan_command(name: str, terraform_bin: str | None, steps: str | None, verbose: bool,
                 catalog_path: str) -> None:
    """Show what a deploy of VM NAME would change: preflight, terraform plan, pyinfra --dry."""
    _run(name, catalog_path, DeployOptions(terraform_bin, verbose=verbose, steps=steps), True)
