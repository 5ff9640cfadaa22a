"""Which NVIDIA driver to install: the `-open` distro driver that `ubuntu-drivers devices` offers.

Blackwell cards (RTX 50) run only with the open kernel modules, and "recommended" has pointed at a
closed driver before, so the choice is explicit: the recommended line when it is a non-server
`-open` distro driver, else the highest-numbered such driver; none at all is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aimachine.guest.parsers import matching_lines

# driver   : nvidia-driver-580-open - distro non-free recommended
_DRIVER_LINE = re.compile(
    r"^driver\s*:\s*(?P<name>\S+)\s+-\s+(?P<origin>distro|third-party)\s+(?P<license>free|non-free)"
    r"(?P<flags>(?:\s+\w+)*)\s*$"
)
DRIVER_PACKAGE = re.compile(r"^nvidia-driver-(?P<branch>\d+)(?P<server>-server)?(?P<open>-open)?$")


class DriverChoiceError(ValueError):
    """No acceptable driver was offered; the message lists what was."""


@dataclass(frozen=True)
class OfferedDriver:
    name: str
    distro: bool
    recommended: bool

    @property
    def branch(self) -> int | None:
        found = DRIVER_PACKAGE.match(self.name)
        return int(found["branch"]) if found else None

    @property
    def acceptable(self) -> bool:
        """A non-server `-open` distro driver: the only kind that fits a GeForce Blackwell card."""
        found = DRIVER_PACKAGE.match(self.name)
        return bool(found and found["open"] and not found["server"] and self.distro)


def parse_offered(ubuntu_drivers_output: str) -> list[OfferedDriver]:
    """The `driver :` lines of `ubuntu-drivers devices`; noise lines (udevadm, aplay) are ignored."""
    return [OfferedDriver(found["name"], found["origin"] == "distro", "recommended" in found["flags"].split())
            for found in matching_lines(_DRIVER_LINE, ubuntu_drivers_output)]


def choose_driver(ubuntu_drivers_output: str, branch: int | str = "auto") -> str:
    """The driver package to install, e.g. `nvidia-driver-580-open`.

    `branch` is the catalog's `nvidia.driver_branch`: "auto", or a number that pins the branch.
    Raises DriverChoiceError, listing what was offered, when nothing acceptable is there.
    """
    offered = parse_offered(ubuntu_drivers_output)
    good = [d for d in offered if d.acceptable]
    if branch != "auto":
        good = [d for d in good if d.branch == int(branch)]
    if not good:
        listed = ", ".join(d.name + (" (recommended)" if d.recommended else "") for d in offered)
        wanted = "-open distro driver" + ("" if branch == "auto" else f" of branch {branch}")
        raise DriverChoiceError(
            f"ubuntu-drivers offers no {wanted}; offered: {listed or 'nothing'}. "
            "The RTX 50 series needs the open kernel modules (nvidia-driver-NNN-open); "
            "check that the GPU is passed through (lspci -nn | grep -i nvidia) and that the "
            "restricted/multiverse archives are enabled"
            + ("" if branch == "auto" else ", or set nvidia.driver_branch: auto")
        )
    recommended = [d for d in good if d.recommended]
    if recommended:
        return recommended[0].name
    return max(good, key=lambda d: d.branch or 0).name


def installed_open_driver(installed: list[str] | set[str] | dict) -> str | None:
    """The non-server `-open` driver package already installed (highest branch), if any.

    With `driver_branch: auto` a configured VM keeps its driver: a newer branch appearing in the
    archive does not swap drivers on a re-run; a pinned branch moves only by `--upgrade-driver`."""
    found = [name for name in installed
             if (m := DRIVER_PACKAGE.match(name)) and m["open"] and not m["server"]]
    return max(found, key=lambda name: int(DRIVER_PACKAGE.match(name)["branch"]), default=None)


def install_spec(package: str) -> str:
    """`nvidia-driver-580-open` -> `nvidia:580-open`, the form `ubuntu-drivers install` takes."""
    found = DRIVER_PACKAGE.match(package)
    if not found or not found["open"] or found["server"]:
        raise DriverChoiceError(f"not a non-server -open driver package: {package}")
    return f"nvidia:{found['branch']}-open"


def module_package(package: str, kernel_release: str) -> str:
    """The Canonical-signed precompiled module package for the running kernel."""
    return f"linux-modules-nvidia-{package.removeprefix('nvidia-driver-')}-{kernel_release}"


def module_metapackages(package: str, installed: list[str] | set[str] | dict) -> list[str]:
    """The installed flavour metapackages of PACKAGE's signed modules, e.g.
    `linux-modules-nvidia-580-open-generic` (or `-generic-hwe-24.04`): the package `ubuntu-drivers`
    installs and that follows each new kernel. The per-kernel `...-open-6.8.0-88-generic` is not one."""
    found = DRIVER_PACKAGE.match(package)
    if not found:
        return []
    prefix = f"linux-modules-nvidia-{found['branch']}{found['server'] or ''}{found['open'] or ''}-"
    flavours = (name[len(prefix):] for name in installed if name.startswith(prefix))
    # a flavour (generic, generic-hwe-24.04, lowlatency) starts with a letter; 580's prefix also starts
    # 580-open's and 580-server's packages, which are not this driver's
    return sorted(prefix + f for f in flavours if f[:1].isalpha() and not f.startswith(("open", "server")))


# Ubuntu's kernel metapackages (linux-generic, linux-image-virtual, linux-headers-generic-hwe-24.04...):
# through them apt brings a new kernel ABI, for which a held driver would have no modules.
_KERNEL_META = re.compile(
    r"^linux-(?:image-|headers-)?(?:generic|virtual|lowlatency|kvm)(?:-hwe-\d+\.\d+(?:-edge)?)?$")


def kernel_metapackages(installed: list[str] | set[str] | dict) -> list[str]:
    """The installed kernel metapackages: held with the driver, moved with it by --upgrade-driver."""
    return sorted(name for name in installed if _KERNEL_META.match(name))


CUDA_REPO = "https://developer.download.nvidia.com/compute/cuda/repos/{repo}/x86_64/"
# NVIDIA's CUDA repository signing key (3bf863cc.pub), published with this fingerprint
CUDA_KEY_FINGERPRINT = "EB693B3035CD5710E231E123A4B469963BF863CC"


def cuda_repo(ubuntu_release: str) -> str:
    """NVIDIA names its repos after the Ubuntu release: 24.04 -> ubuntu2404."""
    return "ubuntu" + ubuntu_release.replace(".", "")


def cuda_repo_url(ubuntu_release: str) -> str:
    return CUDA_REPO.format(repo=cuda_repo(ubuntu_release))


def cuda_key_url(ubuntu_release: str) -> str:
    """The repository's signing key, named after the key id's last 8 hex digits."""
    return cuda_repo_url(ubuntu_release) + CUDA_KEY_FINGERPRINT[-8:].lower() + ".pub"
