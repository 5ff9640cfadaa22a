"""The nvidia step's stop when `ubuntu-drivers install` left no signed modules for the running kernel, run
for real in bash on this machine: its kernel is no Ubuntu generic one, as a custom or unsupported flavour
on a VM would be, so dpkg-query finds no module package and this machine's real `apt-cache` answers for
the names.

`ubuntu-drivers` itself is a stand-in printing what its `debug` command logs on that path: the
`logging.debug` calls of get_linux_modules_metapackage in UbuntuDrivers/detect.py (ubuntu-drivers-common,
noble branch: `No "%s" can be found.`, `Falling back to %s`) in Python's default log format, which
`ubuntu-drivers debug` sends to stdout (logging.basicConfig(level=DEBUG, stream=sys.stdout)).
"""

from __future__ import annotations

import os
import platform
import subprocess

from aimachine.configure.driver_updates import installed_check
from aimachine.configure.nvidia import no_modules_report
from aimachine.guest.drivers import module_package

UBUNTU_DRIVERS = """#!/bin/sh
[ "$1" = debug ] || exit 2
flavour=$(uname -r | cut -d- -f3-)
echo '=== log messages from detection ==='
echo "DEBUG:root:No \\"linux-modules-nvidia-580-open-$flavour\\" can be found."
echo 'DEBUG:root:Falling back to nvidia-dkms-580-open'
echo '=== modaliases in the system ==='
echo 'pci:v000010DEd00002D04sv00001458sd00004191bc03sc00i00'
"""


def test_the_stop_shows_ubuntu_drivers_reasons_and_what_apt_offers(tmp_path):
    (tmp_path / "ubuntu-drivers").write_text(UBUNTU_DRIVERS)
    (tmp_path / "ubuntu-drivers").chmod(0o755)
    package = "nvidia-driver-580-open"
    command = (f"{installed_check(module_package(package, '$(uname -r)'))} || "
               f"{{ {no_modules_report(package, 'vm-llm-aimachine')}; exit 1; }}")
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "LANG": "C"})
    kernel = platform.release()
    flavour = kernel.split("-", 2)[2] if kernel.count("-") >= 2 else kernel
    assert done.returncode == 1
    out = done.stdout
    assert f"linux-modules-nvidia-580-open-{kernel} is not installed" in out
    # ubuntu-drivers' own reasons: no package for this flavour, so DKMS, which `install` leaves out
    assert f'DEBUG:root:No "linux-modules-nvidia-580-open-{flavour}" can be found.' in out
    assert "DEBUG:root:Falling back to nvidia-dkms-580-open" in out
    assert "modaliases" not in out  # only the lines about the choice
    # the real apt-cache's answer for each name (a notice per name it does not know)
    assert f"N: Unable to locate package linux-modules-nvidia-580-open-{kernel}" in out
    assert "N: Unable to locate package nvidia-dkms-580-open" in out
    assert "--upgrade-driver" in out and "boot linux-generic" in out
