"""`python -m aimachine.rehearsal.archive_fill` (`make test-host`): fill the archive cache with what the
test host and the rehearsal's guest take from Ubuntu's archive, once per machine.

It builds the noble root (debootstrap), boots it with the product's user-data (cloud-init installs its
packages), then makes the apt calls the configure steps make, in their order, with the package lists
taken from the steps themselves: the first-boot dist-upgrade, the base, security, monitoring, models,
vllm and ollama packages, and the driver through the real `ubuntu-drivers install`. Everything goes
through the cache in fill mode; the tests then run with it offline. A stamp named after the root's
cache key and these calls makes a second run a no-op that downloads nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

from aimachine.guest import apt_calls as calls
from aimachine.guest.apt_calls import APT_LOCK_WAIT, UBUNTU_DRIVERS
from aimachine.guest.drivers import choose_driver, install_spec
from aimachine.guest.rendered import apt_files
from aimachine.rehearsal import archive_cache, noble_base
from aimachine.rehearsal import guest as nspawn

FILL_NET = nspawn.Net("aimfill", "10.213.2.1", "10.213.2.2")
STEP_PACKAGES = {
    "base": calls.BASE_PACKAGES,
    "security": calls.SECURITY_PACKAGES,
    "monitoring": calls.MONITORING_PACKAGES,
    "models": calls.MODEL_FETCH_PACKAGES,
    "vllm": calls.vllm_packages(noble_base.PYTHON),
    "ollama": calls.DOWNLOAD_PACKAGES,
}
# The engine tests only (tests/harness/engines.py): the CPU build of vLLM links libnuma, and torch's
# inductor compiles its CPU kernels with a C++ compiler. A VM with its GPU needs neither.
CPU_VLLM_PACKAGES = ("libnuma1", "g++")


def guest_commands() -> list[str]:
    """The apt calls of the configure steps before the driver's, as root on the guest, in their order."""
    files = [f"install -D -m 0644 /dev/stdin {shlex.quote(f.path)} <<'EOF'\n{f.content}EOF"
             for f in apt_files()]
    install = f"DEBIAN_FRONTEND=noninteractive apt-get -q -y {APT_LOCK_WAIT} install --no-install-recommends"
    return [
        f"apt-get -q {APT_LOCK_WAIT} update",
        calls.FIRST_BOOT_UPGRADE,
        *files,
        *(f"{install} {' '.join(names)}" for names in (*STEP_PACKAGES.values(), CPU_VLLM_PACKAGES)),
    ]


def stamp(root: Path) -> Path:
    made = "\n".join([*guest_commands(), f"{UBUNTU_DRIVERS} install (the nvidia step's choice)"])
    key = hashlib.sha256(f"{noble_base.cache_key()}\n{made}".encode()).hexdigest()[:12]
    return root / f".filled-{key}"


def fill(echo=print) -> int:
    cache = archive_cache.ArchiveCache(mode="fill")
    done = stamp(cache.root)
    if done.exists():
        echo(f"archive cache: {cache.root} is filled ({archive_cache.size_mb(cache.root)} MB); nothing to do")
        return 0
    start = time.monotonic()
    echo(f"archive cache: filling {cache.root} from Ubuntu's archive (once per machine) ...")
    root = noble_base.build(cache)
    echo(f"  noble root: {root} ({time.monotonic() - start:.0f} s)")
    with tempfile.TemporaryDirectory(prefix="aimachine-fill-") as work, nspawn.booted(
        Path(work), net=FILL_NET, cache=cache
    ) as host:
        echo(f"  guest booted, cloud-init done ({time.monotonic() - start:.0f} s)")
        for command in guest_commands():
            ran = host.ssh(f"sudo sh -c {shlex.quote(command)}", timeout=1800)
            if ran.returncode != 0:
                echo(f"error: on the fill guest: {command.splitlines()[0]}\n{ran.stdout[-3000:]}"
                     f"{ran.stderr[-2000:]}")
                return 1
            echo(f"  {command.splitlines()[0][:100]} ({time.monotonic() - start:.0f} s)")
        # the driver the nvidia step picks (the shipped catalog's driver_branch: auto) from the real
        # ubuntu-drivers, installed by it
        offered = host.ssh("ubuntu-drivers devices 2>&1", timeout=300).stdout
        spec = install_spec(choose_driver(offered))
        ran = host.ssh(f"sudo {UBUNTU_DRIVERS} install {spec}", timeout=1800)
        if ran.returncode != 0:
            echo(f"error: on the fill guest: ubuntu-drivers install {spec}\n{ran.stdout[-3000:]}")
            return 1
        echo(f"  ubuntu-drivers install {spec} ({time.monotonic() - start:.0f} s)")
    if cache.misses:  # the calls succeeded without them: apt or ubuntu-drivers went on
        echo(f"  NOTE: listed in the archive's index but not in its pool today ({len(cache.misses)}), "
             f"kept in {cache.root / archive_cache.UNPUBLISHED}: " + ", ".join(cache.misses[:3]))
    done.touch()
    echo(f"archive cache: {len(cache.fetched)} files fetched, {archive_cache.size_mb(cache.root)} MB in "
         f"{cache.root} ({time.monotonic() - start:.0f} s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    reason = nspawn.unavailable_reason()
    if reason and os.environ.get("CI") == "true":
        print(f"error: the test host cannot be built here: {reason}", file=sys.stderr)
        return 2
    if reason:
        print(f"archive cache: not filled ({reason}); the tests that need the test host skip")
        return 0
    return fill()


if __name__ == "__main__":
    sys.exit(main())
