"""The driver choice on `ubuntu-drivers devices` as it prints (tests/fixtures/ubuntu-drivers-devices.*)
and on the offers an admin may meet, with every package-name helper; the results are a golden file
(tests/golden/driver-choices.txt), reviewed once."""

from __future__ import annotations

from aimachine.guest import drivers as d
from tests.conftest import FIXTURES

REAL = (FIXTURES / "ubuntu-drivers-devices.rtx5060ti.noble.txt").read_text()
HEAD = ("== /sys/devices/pci0000:00/0000:00:10.0/0000:01:00.0 ==\nmodalias : pci:v000010DEd00002D04sv\n"
        "vendor   : NVIDIA Corporation\n")
OFFERS = {
    "the real noble output": REAL,
    "closed recommended, open offered": HEAD + "driver   : nvidia-driver-580 - distro non-free recommended\n"
                                               "driver   : nvidia-driver-570-open - distro non-free\n"
                                               "driver   : nvidia-driver-575-open - distro non-free\n",
    "595 and 580 open, 580 recommended": HEAD + "driver   : nvidia-driver-595-open - distro non-free\n"
                                                "driver   : nvidia-driver-580-open - distro non-free "
                                                "recommended\n",
    "595 and 580 open, none recommended": HEAD + "driver   : nvidia-driver-580-open - distro non-free\n"
                                                 "driver   : nvidia-driver-595-open - distro non-free\n",
    "server open only": HEAD + "driver   : nvidia-driver-580-server-open - distro non-free recommended\n",
    "closed only": HEAD + "driver   : nvidia-driver-580 - distro non-free recommended\n"
                          "driver   : nvidia-driver-580-server - distro non-free\n",
    "third-party open": HEAD + "driver   : nvidia-driver-580-open - third-party non-free recommended\n",
    "nouveau only": HEAD + "driver   : xserver-xorg-video-nouveau - distro free builtin\n",
    "noise around it": "udevadm: not found\n" + HEAD + "driver   : nvidia-driver-580-open - distro non-free\n"
                                                      "aplay: no soundcards\n",
    "nothing": "",
}
INSTALLED = {
    "open 580": ["nvidia-driver-580-open", "linux-modules-nvidia-580-open-generic"],
    "open 570 and 580": ["nvidia-driver-570-open", "nvidia-driver-580-open"],
    "open 95 and 580 (by number, not by text)": ["nvidia-driver-580-open", "nvidia-driver-95-open"],
    "server open": ["nvidia-driver-580-server-open"],
    "closed": ["nvidia-driver-580"],
    "none": [],
}
MODULES = ["linux-modules-nvidia-580-open-generic", "linux-modules-nvidia-580-open-generic-hwe-24.04",
           "linux-modules-nvidia-580-open-6.8.0-88-generic", "linux-modules-nvidia-580-generic",
           "linux-modules-nvidia-570-open-generic", "linux-modules-nvidia-580-server-open-generic"]


def _try(call) -> str:
    try:
        return repr(call())
    except d.DriverChoiceError as err:
        return f"error: {err}"


def render() -> str:
    lines = []
    for name, text in OFFERS.items():
        offered = ", ".join(f"{o.name}{' (distro)' if o.distro else ''}"
                            f"{' (recommended)' if o.recommended else ''}"
                            f"{'' if o.acceptable else ' (not acceptable)'} branch {o.branch}"
                            for o in d.parse_offered(text))
        lines.append(f"## {name}\noffered: {offered or 'nothing'}")
        for branch in ("auto", 580, "595", 570):
            lines.append(f"choose({branch!r}): {_try(lambda t=text, b=branch: d.choose_driver(t, b))}")
        lines.append("")
    lines.append("## installed")
    lines += [f"{name}: {d.installed_open_driver(pkgs)!r}" for name, pkgs in INSTALLED.items()]
    lines.append("\n## package names")
    for package in ("nvidia-driver-580-open", "nvidia-driver-580", "nvidia-driver-580-server-open",
                    "nvidia-580"):
        lines.append(f"{package}: install {_try(lambda p=package: d.install_spec(p))}; module "
                     f"{d.module_package(package, '6.8.0-88-generic')}; metapackages "
                     f"{d.module_metapackages(package, MODULES)}")
    lines.append(f"cuda repo: {d.cuda_repo_url('24.04')}; key {d.cuda_key_url('24.04')} "
                 f"({d.cuda_repo('22.04')})")
    kernels = ["linux-generic", "linux-image-generic", "linux-headers-generic", "linux-virtual",
               "linux-image-6.8.0-88-generic", "linux-generic-hwe-24.04",
               "linux-modules-nvidia-580-open-generic",
               "linux-firmware", "linux-tools-generic"]
    lines.append(f"kernel metapackages of {kernels}: {d.kernel_metapackages(kernels)}")
    return "\n".join(lines) + "\n"
