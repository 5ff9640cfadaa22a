"""The nvidia step with the real `ubuntu-drivers` and the real driver packages from noble's restricted
component, on the Ubuntu 24.04 test host, whose PCI bus shows the RTX 5060 Ti (aimachine/rehearsal/
vm_sysfs.py; there is no GPU behind it).

The host is a container on this machine's own kernel, not an Ubuntu flavour: the step installs the
driver ubuntu-drivers picks and the signed modules for the Ubuntu kernel the image has installed, then
its check for modules of the *running* kernel meets that kernel for real and stops with its remedy.
The happy path beyond the check (the hold) is shown with `uname -r` answering the image's kernel, the
one the packages were built for; loading the module cannot work in a container and stops the step there.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from aimachine.configure.driver_updates import installed_check
from aimachine.guest.drivers import choose_driver, module_package
from aimachine.rehearsal import archive_cache
from aimachine.rehearsal import guest as nspawn
from aimachine.verify import judges
from tests.harness.fixtures import booted_test_host
from tests.harness.noble_host import configure, on_host, write_catalog

pytestmark = pytest.mark.nspawn
DRIVER_NET = nspawn.Net("aimdriver", "10.213.3.1", "10.213.3.2")
UNAME = "/usr/local/bin/uname"


def branch(host: nspawn.NspawnHost) -> str:
    """The branch of the driver the nvidia step picks there (`620` of nvidia-driver-620-open)."""
    return choose_driver(on_host(host, "ubuntu-drivers devices 2>&1")).split("-")[2]


@pytest.fixture(scope="module")
def driver_host(tmp_path_factory: pytest.TempPathFactory,
                standin_payloads: Path) -> Iterator[nspawn.NspawnHost]:
    with booted_test_host(tmp_path_factory.mktemp("driver-host"), standin_payloads,
                          "the driver step on the test host", net=DRIVER_NET, hub=False) as host:
        yield host


def test_the_real_ubuntu_drivers_installs_the_open_driver_then_the_module_check_stops(driver_host, tmp_path):
    host = driver_host
    catalog = write_catalog(tmp_path / "catalog.yml", host)
    offered = on_host(host, "ubuntu-drivers devices 2>&1")
    assert "pci:v000010DEd00002D04sv00001462sd00005354bc03sc00i00" in offered
    package = choose_driver(offered)  # the shipped catalog's driver_branch: auto
    assert package.endswith("-open") and "server" not in package

    first = configure(catalog, host, "update,base,nvidia")
    out = first.stdout + first.stderr
    assert first.returncode == 6, out
    assert "Confirm the signed modules" in out and "failed at: nvidia" in out, out
    running = on_host(host, "uname -r").strip()
    assert f"{module_package(package, running)} is not installed" in out, out
    assert "--- apt-cache policy" in out and "--- ubuntu-drivers debug" in out, out

    assert "not published yet" in out, out  # the remedy names both causes
    assert host.ssh("test -e /var/run/reboot-required").returncode != 0  # the update's reboot happened

    # what ubuntu-drivers installed: the driver and the signed modules of the Ubuntu kernel the image
    # has, unless the archive snapshot lists those modules without publishing them (then apt fetched
    # nothing, ubuntu-drivers still exited 0, and only the step's own check caught it)
    image_kernel = on_host(host, "dpkg-query -W -f='${Depends}' linux-image-virtual").split("linux-image-")[1]
    image_kernel = image_kernel.split()[0].rstrip(",")
    modules = module_package(package, image_kernel)
    unpublished = archive_cache.ArchiveCache().unpublished
    if any(f"/{modules}_" in path for path in unpublished):
        assert host.ssh(installed_check(package)).returncode != 0
        pytest.skip(f"the archive lists {modules} but had not published it when the cache was filled "
                    f"({archive_cache.cache_root() / archive_cache.UNPUBLISHED}): the driver's install and "
                    "hold on that kernel cannot be shown with this snapshot")
    for name in (package, module_package(package, "generic"), modules):
        assert host.ssh(installed_check(name)).returncode == 0, name

    # the happy path on that kernel: the check passes, the step holds driver, modules and kernel
    wrapper = f'#!/bin/sh\n[ "$1" = -r ] && echo {image_kernel} || exec /usr/bin/uname "$@"\n'
    on_host(host, f"printf %s {shlex.quote(wrapper)} | sudo tee {UNAME} >/dev/null && sudo chmod 755 {UNAME}")
    try:
        second = configure(catalog, host, "nvidia")
    finally:
        on_host(host, f"sudo rm -f {UNAME}")
    out = second.stdout + second.stderr
    assert "failed at: nvidia | Load the nvidia module" in out, out  # a container loads no module
    held = set(on_host(host, "apt-mark showhold").split())
    assert {package, module_package(package, "generic"), "linux-image-virtual"} <= held, held


def test_the_real_nvidia_smi_without_a_gpu_is_judged_with_a_remedy(driver_host):
    on_host(driver_host, f"sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "
                         f"nvidia-utils-{branch(driver_host)} >/dev/null")
    smi = driver_host.ssh("nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader")
    assert smi.returncode == 9, smi
    output = judges.Output(smi.returncode, smi.stdout, smi.stderr)
    verdict = judges.gpu_name(output, "NVIDIA GeForce RTX 5060 Ti")
    assert not verdict.passed and "couldn't communicate with the NVIDIA driver" in verdict.found
    assert "modprobe nvidia" in verdict.remedy


def test_monitoring_treats_the_static_persistenced_unit_as_enabled_on_real_systemd(driver_host, tmp_path):
    """Ubuntu ships nvidia-persistenced.service static (started by udev): `enabled` must mean that, so
    the step never tries `systemctl enable` on it; starting it needs the GPU, which stops the step."""
    host = driver_host
    on_host(host, f"sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "
                  f"nvidia-compute-utils-{branch(host)} >/dev/null")
    assert on_host(host, "systemctl show -p UnitFileState --value nvidia-persistenced").strip() == "static"
    run = configure(write_catalog(tmp_path / "catalog.yml", host), host, "monitoring")
    out = run.stdout + run.stderr
    assert "failed at: monitoring | nvidia-persistenced enabled and running" in out, out
    assert "systemctl enable" not in out, out
    assert on_host(host, "systemctl is-enabled nvidia-persistenced || true").strip() == "static"
    # the drop-in that turns persistence mode on is in place before the start
    exec_start = on_host(host, "systemctl show -p ExecStart --value nvidia-persistenced")
    assert "--no-persistence-mode" not in exec_start and "--verbose" in exec_start
