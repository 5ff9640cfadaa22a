"""`aimachine preflight` and `aimachine provision`: the Proxmox side of a deploy."""

from __future__ import annotations

import click

from deploy import provision as prov
from deploy.catalog import load_catalog
from deploy.cli_common import allow_replace_option, catalog_option, terraform_bin_option
from deploy.deployment import DeployOptions, DeployRun, deploy_phases, phases_until
from deploy.pipeline import run_phases


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
