"""`aimachine rehearse`: the deploy against the built-in Proxmox simulator (and a local guest)."""

from __future__ import annotations

import click

from aimachine.cli.options import catalog_option, terraform_bin_option

# the names only: aimachine.rehearsal (and the simulator under it) is imported when the command runs
SCENARIOS = ("gpu-busy", "iommu-off", "vmid-taken", "storage-small", "start-fails", "gpu-stuck")


@click.command("rehearse")
@click.argument("name")
@click.option("--scenario", type=click.Choice(SCENARIOS),
              help="Rehearse a failure: gpu-busy (a running VM holds the GPU), iommu-off, vmid-taken, "
                   "storage-small, start-fails (the start task fails: rollback), gpu-stuck (an RTX 50 "
                   "card that did not reset after its last VM stop: the start hangs).")
@click.option("--keep", is_flag=True, help="Keep the scratch directory (catalog copy, Terraform and "
              "simulator state) and print how to look inside.")
@click.option("--no-guest", is_flag=True, help="Do not boot the local guest even as root: stop after boot.")
@terraform_bin_option
@catalog_option
def rehearse_command(name: str, scenario: str | None, keep: bool, no_guest: bool, terraform_bin: str | None,
                     catalog_path: str) -> None:
    """Rehearse the deploy of VM NAME against a simulated Proxmox host on 127.0.0.1.

    The real Terraform and bpg/proxmox provider apply the catalog to a host built from it; the phases
    and their output are the deploy's own. As root with systemd-nspawn, a local systemd guest stands in
    for the VM: configure runs its GPU-free steps and verify its service checks. Nothing outside one
    scratch directory is touched, and it is removed at the end. Exit codes as for deploy."""
    from aimachine.rehearsal.run import RehearsalOptions, rehearse

    options = RehearsalOptions(scenario, keep, not no_guest, terraform_bin)
    record = rehearse(catalog_path, name, options, click.echo)
    if record.failed:
        raise record.failed
