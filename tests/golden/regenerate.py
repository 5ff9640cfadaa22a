"""Rewrite the golden files from the code: `python -m tests.golden.regenerate`, then review `git diff`."""

from __future__ import annotations

import shutil

from tests.golden import (
    CHECKS,
    DRIVERS,
    EXTRA_ARGS_UNIT,
    GATEWAY_GOLDEN,
    GOLDEN,
    JUDGEMENTS,
    MODES,
    PRIVILEGES,
    ROOT,
    VERDICTS,
    catalog_cases,
    driver_cases,
    extra_args_unit,
    gateway_rendered,
    golden_path,
    privilege_cases,
    render_modes,
    rendered_files,
    shipped_vm,
    verify_cases,
)
from tests.golden.preflight_scenarios import render


def main() -> None:
    shutil.rmtree(GOLDEN, ignore_errors=True)
    for made in rendered_files(shipped_vm()):
        path = golden_path(made.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(made.content)
        path.chmod(int(made.mode, 8))
        print(path)
    MODES.write_text(render_modes(rendered_files(shipped_vm())))
    print(MODES)
    EXTRA_ARGS_UNIT.write_text(extra_args_unit().content)
    print(EXTRA_ARGS_UNIT)
    shutil.rmtree(GATEWAY_GOLDEN, ignore_errors=True)
    for name, content in gateway_rendered().items():
        path = GATEWAY_GOLDEN / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        print(path)
    VERDICTS.write_text(render(str(ROOT / "catalog.yml")))
    print(VERDICTS)
    JUDGEMENTS.write_text(verify_cases.render())
    print(JUDGEMENTS)
    CHECKS.write_text(catalog_cases.render())
    print(CHECKS)
    DRIVERS.write_text(driver_cases.render())
    print(DRIVERS)
    PRIVILEGES.write_text(privilege_cases.render())
    print(PRIVILEGES)


if __name__ == "__main__":
    main()
