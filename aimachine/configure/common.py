"""Operations every deploy uses: packages without a needless apt update, managed files, a clean stop."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable

from pyinfra import host
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt, files, python

from aimachine.configure.facts import FileDigests
from aimachine.guest.apt_calls import APT_LOCK_WAIT
from aimachine.guest.parsers import FileDigest
from aimachine.guest.rendered import ManagedFile


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
    """Write the files that differ (content, mode, owner); those already as rendered get no operation,
    found by one command for all of them."""
    present = host.get_fact(FileDigests, paths=tuple(f.path for f in managed))
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
        if present.get(f.path) != FileDigest(sha1(f.content), f.mode, user, group)
    ]


def any_changed(ops: list[OperationMeta]) -> Callable[[], bool]:
    """An `_if`: whether any of OPS changed something (read when the operation runs)."""
    return lambda: any(op.did_change() for op in ops)


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def stop(message: str) -> None:
    """Stop this host's deploy at this point with MESSAGE (shown as the failing operation)."""
    python.raise_exception(ConfigureStop, message, name=f"Stop: {message}")
