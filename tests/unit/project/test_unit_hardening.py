"""The sandboxing of the four units the product renders, as `systemd-analyze security` scores it.

Each unit, rendered from the shipped catalog (the gateway's from tests/golden/gateway-catalog.yml),
scores at most LIMIT ("OK" is below 5) on this machine's systemd and on the systemd of Ubuntu 24.04
(255: the test host's root, built by `make test-host`), which is the one that runs them. vLLM and
Ollama reach the GPU's device nodes (/dev/nvidia*): no device sandboxing on them, which only a GPU
could show to be wrong; the gateway has no GPU and gets it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from aimachine.guest.rendered import gateway_unit
from aimachine.rehearsal import guest as nspawn
from aimachine.rehearsal import noble_base
from tests.golden import gateway_catalog, rendered_files, shipped_vm

LIMIT = 4.5
UNITS = ("vllm.service", "ollama.service", "aimachine-models.service", "aimachine-gateway.service")
GPU_UNITS = ("vllm.service", "ollama.service")
# a device allow list (ProtectClock= implies one: DeviceAllow=char-rtc r) shuts out /dev/nvidia*
NO_DEVICE_SANDBOX = ("PrivateDevices=", "DevicePolicy=", "DeviceAllow=", "ProtectClock=")
EXPOSURE = re.compile(r"Overall exposure level for (\S+): (\d+\.\d+)")
TERMINAL = re.compile(r"\x1b\[[0-9;]*m|\x1b\]8;[^\x07]*\x07")  # colours and links, should any come
PLAIN = {"SYSTEMD_COLORS": "0", "SYSTEMD_URLIFY": "0"}
IN_NOBLE = "/mnt"  # where the units are bound in the root (a directory it has: the root is read-only)


def units() -> dict[str, str]:
    """{unit name: content} as the configuration writes them for the shipped catalog."""
    made = {Path(f.path).name: f.content for f in rendered_files(shipped_vm())}
    gateway = gateway_unit(gateway_catalog().gateway)
    made[Path(gateway.path).name] = gateway.content
    return {name: made[name] for name in UNITS}


@pytest.fixture
def unit_dir(tmp_path: Path) -> Path:
    for name, content in units().items():
        (tmp_path / name).write_text(content)
    return tmp_path


def exposure(output: str, unit: str) -> float:
    found = dict(EXPOSURE.findall(TERMINAL.sub("", output)))
    assert unit in found, f"no exposure level for {unit} in:\n{output}"
    return float(found[unit])


def assert_within_limit(scores: dict[str, float], systemd: str) -> None:
    over = {unit: score for unit, score in scores.items() if score > LIMIT}
    assert not over, f"systemd {systemd}: exposure above {LIMIT}: {over} (all: {scores})"


def version(command: list[str]) -> str:
    out = subprocess.run([*command, "--version"], capture_output=True, text=True, check=True).stdout
    return out.split()[1]


def noble_root() -> Path:
    """The test host's root (Ubuntu 24.04); in CI built when missing, elsewhere a skip."""
    root = noble_base.cache_dir() / f"{noble_base.SUITE}-{noble_base.cache_key()}"
    if (root / ".complete").exists():
        return root
    if os.environ.get("CI") == "true":
        return noble_base.build()
    pytest.skip(f"the Ubuntu 24.04 root is not built ({root}): make test-host")


def test_the_gpu_units_leave_the_devices_alone():
    """/dev/nvidia* stays reachable for both engines: no PrivateDevices=, no device policy or allow list
    (ProtectClock= adds one)."""
    for name in GPU_UNITS:
        directives = [line.strip() for line in units()[name].splitlines() if not line.startswith("#")]
        assert not [d for d in directives if d.startswith(NO_DEVICE_SANDBOX)], name


def test_the_gateway_has_no_devices_and_no_clock():
    """No GPU: the gateway gets the device sandbox the engines cannot have."""
    directives = set(units()["aimachine-gateway.service"].splitlines())
    assert {"PrivateDevices=yes", "ProtectClock=yes", "PrivateUsers=yes"} <= directives


def test_every_unit_keeps_the_core_of_its_sandbox():
    """What the scores leave room to lose, each unit keeps: a read-only OS, no home directories, no new
    privileges, native system calls only."""
    for name, content in units().items():
        directives = set(content.splitlines())
        for kept in ("ProtectSystem=strict", "ProtectHome=yes", "NoNewPrivileges=yes",
                     "SystemCallArchitectures=native", "CapabilityBoundingSet="):
            assert kept in directives, f"{name}: no {kept}"


def test_the_units_score_ok_on_this_machines_systemd(unit_dir):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze must run in CI (systemd-container brings systemd)")
        pytest.skip("systemd-analyze is not installed here (systemd)")
    scores = {}
    for name in UNITS:
        done = subprocess.run([analyze, "security", "--offline=true", "--no-pager", str(unit_dir / name)],
                              capture_output=True, text=True, timeout=60, check=False,
                              env={**os.environ, **PLAIN})
        scores[name] = exposure(done.stdout + done.stderr, name)
    assert_within_limit(scores, version([analyze]))


@pytest.mark.nspawn
def test_the_units_score_ok_on_ubuntu_noble_systemd(unit_dir):
    """systemd-analyze of Ubuntu 24.04's systemd (255), in the test host's root, read-only."""
    reason = nspawn.unavailable_reason()
    if reason and os.environ.get("CI") == "true":
        pytest.fail(f"noble's systemd-analyze must run in CI, but: {reason}")
    if reason:
        pytest.skip(f"noble's systemd-analyze unavailable: {reason}")
    root = noble_root()
    script = ("systemd-analyze --version | head -n 1; for unit in " + " ".join(UNITS) + "; do "
              f"systemd-analyze security --offline=true --no-pager {IN_NOBLE}/$unit; done")
    done = subprocess.run(
        ["systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--resolv-conf=off", "--timezone=off",
         "--link-journal=no", "--console=pipe", "-D", str(root), "--read-only",
         f"--bind-ro={unit_dir}:{IN_NOBLE}", *(f"--setenv={k}={v}" for k, v in PLAIN.items()),
         "sh", "-c", script],
        capture_output=True, text=True, timeout=120, check=False)
    output = done.stdout + done.stderr
    assert done.stdout.startswith("systemd 255"), output
    assert_within_limit({name: exposure(output, name) for name in UNITS}, "255 (Ubuntu 24.04)")
