"""`aimachine address` and `aimachine ssh`: reach a VM by its catalog name."""

from __future__ import annotations

import os

import click

from deploy import ssh, state
from deploy.catalog import Vm, load_catalog
from deploy.cli_common import catalog_option
from deploy.errors import PhaseError


def vm_target(vm: Vm, address: str | None = None, phase: str = "boot") -> ssh.SshTarget:
    """The SSH login of `vm` (at `address` if given), or an error saying how to get an address."""
    address = address or state.vm_address(vm.name, vm.static_address())
    if not address:
        raise PhaseError(phase, f"no address known for {vm.name}",
                         f"run `aimachine provision {vm.name}` (it records the guest agent's address) "
                         "or set a static ipv4 in the catalog")
    return ssh.SshTarget(address, vm.login.user, key_file=vm.login.private_key_path())


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
