"""Options shared by the command modules."""

from __future__ import annotations

from collections.abc import Callable

import click

from deploy.catalog import DEFAULT_CATALOG


def catalog_option(func: Callable) -> Callable:
    """--catalog PATH, default ./catalog.yml or $AIMACHINE_CATALOG."""
    return click.option(
        "--catalog", "catalog_path", default=DEFAULT_CATALOG, envvar="AIMACHINE_CATALOG",
        show_default=True, type=click.Path(dir_okay=False),
        help="Catalog file (also from AIMACHINE_CATALOG).",
    )(func)
