"""The floor plan's rules (docs/ARCHITECTURE.md), read from the code's own imports: the CLI starts
without pyinfra, paramiko or proxmoxer; only configure/ touches pyinfra, and only through its
launcher is configure/ reached; guest/ and catalog/ are pure; the simulator and the rehearsal are
reached from `aimachine rehearse` alone; no import cycle among the modules."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "aimachine"
HEAVY = ("pyinfra", "paramiko", "proxmoxer", "requests", "jinja2")
IMPURE = ("subprocess", "socket", "requests", "pyinfra", "paramiko", "proxmoxer", "threading")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, top_level_only: bool = False) -> set[str]:
    """The modules `path` imports (`from a import b` counts as a.b when a.b is a module)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names if _is_module(f"{node.module}.{a.name}")}
    return found


def _is_module(dotted: str) -> bool:
    path = ROOT / dotted.replace(".", "/")
    return path.with_suffix(".py").exists() or path.is_dir()


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _offenders(where: str, rule) -> list[str]:
    return sorted(f"{name} imports {imp}" for name, path in modules().items() if name.startswith(where)
                  for imp in imports(path) if rule(name, imp))


def _is(imp: str, *roots: str) -> bool:
    return any(imp == r or imp.startswith(r + ".") for r in roots)


def test_the_cli_starts_without_pyinfra_paramiko_or_proxmoxer():
    code = ("import sys, aimachine.cli.main; "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_only_configure_imports_pyinfra():
    assert _offenders("aimachine", lambda name, imp: _is(imp, "pyinfra")
                      and not _is(name, "aimachine.configure")) == []


def test_configure_is_reached_only_through_its_launcher():
    assert _offenders("aimachine", lambda name, imp: _is(imp, "aimachine.configure")
                      and not _is(name, "aimachine.configure")
                      and imp not in ("aimachine.configure", "aimachine.configure.launcher")) == []


def test_guest_and_catalog_are_pure():
    allowed = ("aimachine.guest", "aimachine.catalog", "aimachine.errors", "aimachine.pci")
    for room in ("aimachine.guest", "aimachine.catalog"):
        assert _offenders(room, lambda name, imp: _is(imp, *IMPURE)
                          or (_is(imp, "aimachine") and imp != "aimachine" and not _is(imp, *allowed))) == []


def test_the_simulator_and_the_rehearsal_are_reached_from_rehearse_alone():
    inside = ("aimachine.pvesim", "aimachine.rehearsal", "aimachine.cli.rehearse")
    assert _offenders("aimachine", lambda name, imp: _is(imp, "aimachine.pvesim", "aimachine.rehearsal")
                      and not _is(name, *inside)) == []


def test_no_module_imports_itself_back():
    graph = {name: {imp for imp in imports(path, top_level_only=True) if imp in modules() and imp != name}
             for name, path in modules().items()}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        for nxt in graph[node]:
            if nxt in trail:
                cycles.append(" -> ".join([*trail[trail.index(nxt):], nxt]))
            elif nxt not in done:
                visit(nxt, [*trail, nxt])
        done.add(node)

    done: set[str] = set()
    for start in graph:
        if start not in done:
            visit(start, [start])
    assert cycles == []


def test_the_rules_see_a_breach(tmp_path):
    """The checker itself: a pyinfra import outside configure/ is found."""
    bad = PACKAGE / "guest" / "_breach_probe.py"
    bad.write_text("import pyinfra\n")
    try:
        assert _offenders("aimachine.guest", lambda name, imp: _is(imp, "pyinfra")) == [
            "aimachine.guest._breach_probe imports pyinfra"]
    finally:
        bad.unlink()


def test_what_runs_on_the_vm_needs_only_the_standard_library():
    """aimachine/onvm/ is copied to the VM and run by its python3 before any venv exists."""
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    found = {f"{name} imports {imp}" for name, path in modules().items() if name.startswith("aimachine.onvm")
             for imp in imports(path) if imp.split(".")[0] not in stdlib}
    assert found == set()


FAST_TIER = ("tests/unit", "tests/deploy", "tests/docs")  # `make test-fast`
# what makes a test slow: a venv (and pip in it), a container; those live in tests/integration
SLOW = re.compile(r"venv\.create\(|require_test_host\(|test_host\(")


def test_the_fast_tier_builds_no_venv_and_boots_no_container():
    paths = [p for tier in FAST_TIER for p in sorted((ROOT / tier).rglob("*.py")) if p != Path(__file__)]
    found = [f"{path.relative_to(ROOT)}:{n}" for path in paths
             for n, line in enumerate(path.read_text().splitlines(), 1) if SLOW.search(line)]
    assert found == []


def test_the_package_is_aimachine_and_nothing_else_is_called_deploy():
    """The package was `deploy`, beside deploy/deploy.py, deploy/cli/deploy.py and ./deploy.py (pip warned
    about the clash); ./deploy.py stays: it is pyinfra's deploy file, `pyinfra inventory.py deploy.py`."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["aimachine*"]
    assert project["project"]["scripts"]["aimachine"] == "aimachine.cli.main:main"
    assert not (ROOT / "deploy").exists()
