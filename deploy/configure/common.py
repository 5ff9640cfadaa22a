"""Operations every deploy uses: packages without a needless apt update, managed files, a clean stop."""

from __future__ import annotations

import io

from pyinfra import host
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt, files, python

from deploy.guest.rendered import ManagedFile

APT_LOCK_WAIT = "-o DPkg::Lock::Timeout=300"  # first boot: unattended-upgrades may hold the lock


class ConfigureStop(RuntimeError):
    """Raised on the VM's side of the run to stop the deploy with a message for the admin."""


def missing_packages(names: list[str]) -> list[str]:
    installed = host.get_fact(DebPackages) or {}
    return [name for name in names if name not in installed]


DOWNLOAD_CACHE = "/var/cache/aimachine"  # checked downloads, kept so a re-run needs no network


def download_cache() -> str:
    files.directory(name=f"Download cache {DOWNLOAD_CACHE}", path=DOWNLOAD_CACHE, mode="755")
    return DOWNLOAD_CACHE


def ensure_packages(names: list[str], what: str) -> None:
    """Install what is missing; `apt-get update` runs only when something is (a re-run changes nothing)."""
    missing = missing_packages(names)
    if not missing:
        return
    apt.update(name=f"apt-get update (to install {', '.join(missing)})")
    apt.packages(
        name=f"Install {what}: {', '.join(missing)}",
        packages=missing,
        no_recommends=True,
        extra_install_args=APT_LOCK_WAIT,
    )


def put_files(managed: list[ManagedFile], user: str = "root", group: str = "root") -> list[OperationMeta]:
    return [
        files.put(
            name=f"Write {f.path}",
            src=io.StringIO(f.content),
            dest=f.path,
            user=user,
            group=group,
            mode=f.mode,
        )
        for f in managed
    ]


def stop(message: str) -> None:
    """Stop this host's deploy at this point with MESSAGE (shown as the failing operation)."""
    python.raise_exception(ConfigureStop, message, name=f"Stop: {message}")
