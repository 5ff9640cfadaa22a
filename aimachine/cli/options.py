"""Options shared by the command modules."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import click

from aimachine.catalog.schema import DEFAULT_CATALOG
from aimachine.reach.state import STATE_ENV


def _state_beside_catalog(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """What runs learn about a VM (its address, host keys) lives beside the catalog that names it,
    whichever directory the command runs from (AIMACHINE_STATE_DIR still wins)."""
    os.environ.setdefault(STATE_ENV, str(Path(value).resolve().parent / ".aimachine"))
    return value


def catalog_option(func: Callable) -> Callable:
    """--catalog PATH, default ./catalog.yml or $AIMACHINE_CATALOG."""
    return click.option(
        "--catalog", "catalog_path", default=DEFAULT_CATALOG, envvar="AIMACHINE_CATALOG",
        show_default=True, type=click.Path(dir_okay=False), callback=_state_beside_catalog,
        help="Catalog file (also from AIMACHINE_CATALOG).",
    )(func)


def terraform_bin_option(func: Callable) -> Callable:
    """--terraform-bin PATH: Terraform or OpenTofu."""
    return click.option(
        "--terraform-bin", metavar="PATH",
        help="Terraform or OpenTofu binary (default: $AIMACHINE_TERRAFORM or terraform).",
    )(func)


def allow_replace_option(func: Callable) -> Callable:
    """--allow-replace: let a plan destroy or replace the VM (never done otherwise)."""
    return click.option(
        "--allow-replace", is_flag=True,
        help="Allow a plan that destroys or replaces the VM (its disk is lost); without it such a "
             "deploy stops before anything changes (exit 4).",
    )(func)
