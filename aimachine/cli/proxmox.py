"""`aimachine preflight` and `aimachine provision`: the Proxmox side of a deploy."""

from __future__ import annotations

import click

from aimachine.catalog.schema import load_catalog
from aimachine.cli.options import allow_replace_option, catalog_option, terraform_bin_option
from aimachine.deploy import DeployOptions, DeployRun, deploy_phases, phases_until
from aimachine.errors import PhaseError
from aimachine.phases import run_phases
from aimachine.proxmox import privileges as privs
from aimachine.proxmox import provision as prov
from aimachine.proxmox.api import ApiError, connect


@click.command("preflight")
@click.argument("name")
@click.option("-v", "--verbose", is_flag=True, help="Also print what was read and from where.")
@catalog_option
def preflight(name: str, verbose: bool, catalog_path: str) -> None:
    """Check the Proxmox host for VM NAME, read-only: one line per check (exit 3 on any FAIL)."""
    cat = load_catalog(catalog_path)
    run = prov.Run(cat, cat.vm(name), click.echo, verbose=verbose)
    prov.preflight(run)
    click.echo(f"preflight: all checks passed for {name}")


@click.command("provision")
@click.argument("name")
@terraform_bin_option
@allow_replace_option
@click.option("-v", "--verbose", is_flag=True, help="Also print what preflight read.")
@catalog_option
def provision(name: str, terraform_bin: str | None, allow_replace: bool, verbose: bool,
              catalog_path: str) -> None:
    """Create or update VM NAME on Proxmox: preflight, cloud-init, Terraform, boot (exit 2-5)."""
    options = DeployOptions(terraform_bin, verbose=verbose, until="boot", allow_replace=allow_replace)
    d = DeployRun(catalog_path, name, options, click.echo)
    record = run_phases(phases_until(deploy_phases(d), "boot"), click.echo)  # the deploy's first five
    if record.failed:
        raise record.failed
    click.echo(f"provisioned {name} at {d.address}; next: ssh {d.prov.vm.login.user}@{d.address}")


@click.command("token-setup")
@click.argument("name")
@click.option("--pve", type=click.Choice(["8", "9"]),
              help="The node's Proxmox VE major version (default: asked of the node when the "
                   "PROXMOX_VE_* variables are set).")
@click.option("--token", "token_id", default=f"{privs.USER}!{privs.TOKEN_NAME}", show_default=True,
              metavar="USER@REALM!ID", help="The token to make.")
@catalog_option
def token_setup(name: str, pve: str | None, token_id: str, catalog_path: str) -> None:
    """Print the pveum commands that make a least-privilege API token for deploying VM NAME."""
    cat = load_catalog(catalog_path)
    vm = cat.vm(name)
    if pve is None:
        try:
            release = str(connect("preflight").get("version").get("release", ""))
        except (PhaseError, ApiError) as err:
            raise click.UsageError(f"cannot ask the node its version ({getattr(err, 'message', err)}); "
                                   "say --pve 8 or --pve 9") from None
        pve = release.split(".", 1)[0] or "8"
    needs = privs.needed(cat, vm, int(pve), new_mapping=True)
    click.echo(f"# On the Proxmox VE {pve}.x node, as root: a token for `aimachine deploy {name}`")
    for line in privs.setup_commands(privs.names(needs), token_id):
        click.echo(line)
    click.echo("# Why each privilege (the path Proxmox checks it on):")
    for need in needs:
        click.echo(f"#   {need.text()}: {need.why}")
