"""`aimachine verify NAME`: the acceptance checks on a live VM (or a recording of one)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from aimachine.catalog.schema import load_catalog
from aimachine.cli.options import catalog_option
from aimachine.reach.address import vm_target
from aimachine.verify import checks as v


@click.command("verify")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option("--address", help="Reach the VM here instead of the catalog's or the recorded address.")
@click.option("--health-timeout", default=600, show_default=True, type=float,
              help="Seconds to wait for vLLM's /health while the model loads.")
@click.option("--record", "record_path", type=click.Path(dir_okay=False),
              help="Also save every command's output to this JSON file (for a bug report).")
@click.option("--replay", "replay_path", type=click.Path(exists=True, dir_okay=False),
              help="Judge the outputs saved by --record instead of running commands.")
@catalog_option
def verify_command(name: str, as_json: bool, address: str | None, health_timeout: float,
                   record_path: str | None, replay_path: str | None, catalog_path: str) -> None:
    """Check VM NAME against the acceptance criteria; exit 0 only when every check passes (else 7)."""
    cat = load_catalog(catalog_path)
    vm = cat.vm(name)
    if replay_path:
        recording = v.load_recording(replay_path)
        address = address or recording.get("address", "?")
        execute = v.replay_executor(recording)
    else:
        target = vm_target(vm, address, phase="verify")
        address = target.host
        execute = v.live_executor(target)
    record: dict | None = {"vm": vm.name, "address": address} if record_path else None

    def progress(message: str) -> None:
        click.echo(f"  ... {message}", err=True)

    report = v.run_checks(v.checks_for(vm, address, 0 if replay_path else health_timeout), execute,
                          v.Report(vm.name, address), progress=progress, record=record)
    if record_path and record is not None:
        Path(record_path).write_text(json.dumps(record, indent=2) + "\n")
    click.echo(json.dumps(report.to_json(), indent=2) if as_json else v.render_table(report))
    v.raise_if_failed(report)
