"""`aimachine address` and `aimachine ssh`: reach a VM by its catalog name."""

from __future__ import annotations

import os

import click

from aimachine.catalog.schema import load_catalog
from aimachine.cli.options import catalog_option
from aimachine.reach.address import vm_target


@click.command("address")
@click.argument("name")
@catalog_option
def address_command(name: str, catalog_path: str) -> None:
    """Print the IPv4 address of VM NAME (static, or recorded at provisioning)."""
    click.echo(vm_target(load_catalog(catalog_path).vm(name)).host)


@click.command("ssh", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@catalog_option
def ssh_command(name: str, command: tuple[str, ...], catalog_path: str) -> None:
    """Open a shell on VM NAME as the catalog's login user (or run COMMAND there)."""
    target = vm_target(load_catalog(catalog_path).vm(name))
    os.execvp("ssh", [*target.base_command(batch=False), target.login, *command])
