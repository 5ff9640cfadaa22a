"""`aimachine configure NAME`: the VM's software, by pyinfra (aimachine/configure/vm.py)."""

from __future__ import annotations

import click

from aimachine.catalog.schema import load_catalog
from aimachine.cli.options import catalog_option
from aimachine.configure.launcher import STEP_NAMES, select, vm_address
from aimachine.configure.launcher import configure as run_configure


def _steps(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    try:
        select(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


@click.command("configure")
@click.argument("name")
@click.option("--dry", is_flag=True, help="Show what would change; change nothing.")
@click.option("--steps", metavar="LIST", callback=_steps,
              help=f"Only these steps, comma separated: {','.join(STEP_NAMES)}.")
@click.option("--upgrade-driver", is_flag=True,
              help="Only this: move the held NVIDIA driver to the newest of its branch (or to "
                   "nvidia.driver_branch), hold it again, say whether a reboot is needed.")
@catalog_option
def configure(name: str, dry: bool, steps: str | None, upgrade_driver: bool, catalog_path: str) -> None:
    """Configure VM NAME: driver, CUDA, vLLM, Ollama, hardening, monitoring (exit 6 on failure)."""
    if upgrade_driver and steps:
        raise click.UsageError("--upgrade-driver runs the nvidia step alone: leave out --steps")
    vm = load_catalog(catalog_path).vm(name)  # a bad catalog or name stops here, before any connection
    what = " (driver upgrade)" if upgrade_driver else ""
    click.echo(f"configure {name} at {vm_address(vm)}{what}{' (dry run)' if dry else ''}:")
    outcome = run_configure(catalog_path, name, dry=dry, steps=steps, echo=click.echo,
                            upgrade_driver=upgrade_driver)
    for name_of_op in outcome.operations if dry else []:
        click.echo(f"  would change: {name_of_op}")
    verb = "would change" if dry else "changed"
    click.echo(f"configure {name}: {outcome.changed} operation{'s' if outcome.changed != 1 else ''} {verb}, "
               f"{outcome.unchanged} already as the catalog says")
    spent = outcome.where_the_time_went()
    if spent:
        click.echo("where the time went:")
        for line in spent:
            click.echo(f"  {line}")
