"""`aimachine status` and `aimachine destroy`."""

from __future__ import annotations

import click

from aimachine.catalog.schema import load_catalog
from aimachine.cli.options import catalog_option, terraform_bin_option
from aimachine.proxmox import lifecycle, status
from aimachine.proxmox import provision as prov
from aimachine.proxmox.ownership import refuse_foreign


def _run(name: str, catalog_path: str) -> prov.Run:
    cat = load_catalog(catalog_path)
    return prov.Run(cat, cat.vm(name), click.echo)


@click.command("status")
@click.argument("name")
@catalog_option
def status_command(name: str, catalog_path: str) -> None:
    """Show VM NAME at a glance: state, address, GPU, services."""
    for line in status.status_lines(_run(name, catalog_path)):
        click.echo(line)


@click.command("destroy")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@terraform_bin_option
@catalog_option
def destroy_command(name: str, yes: bool, terraform_bin: str | None, catalog_path: str) -> None:
    """Destroy VM NAME and its disks, only if its id and name on Proxmox match the catalog."""
    run = _run(name, catalog_path)
    found = lifecycle.holder(run)
    if not found.exists:
        click.echo(f"{name}: VM {run.vm.vmid} does not exist on {run.node}: nothing to destroy")
        return
    refuse_foreign(found, name, run.node, "destroy")
    if not yes:
        click.confirm(f"Destroy VM {run.vm.vmid} {name} on {run.node} ({found.status}) and its disks?",
                      abort=True)
    click.echo(lifecycle.destroy(run, terraform_bin))
