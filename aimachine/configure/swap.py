"""A swap file of the catalog's `swap_gb` (0: none, nothing touched): created, formatted, on, in fstab.

The VM's RAM holds the models and swap slows their loading, so there is none by default. With a
size, /swapfile is this tool's: a file of another size is replaced. Any other swap the admin set up
is never touched, and `swap_gb: 0` never removes one.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.operations import files, server

from aimachine.configure.facts import SwapFileState
from aimachine.guest.parsers import SwapFile

SWAPFILE = "/swapfile"
GIB = 1024**3


def fstab_line(path: str = SWAPFILE) -> str:
    return f"{path} none swap sw 0 0"


def swap_commands(current: SwapFile, size_gb: int, path: str = SWAPFILE) -> list[str]:
    """The commands from CURRENT to an active swap file of SIZE_GB GiB; [] when it is there already."""
    if current.size != size_gb * GIB:
        off = [f"swapoff {path}"] if current.active else []
        create = (f"fallocate -l {size_gb}G {path} || "
                  f"dd if=/dev/zero of={path} bs=1M count={size_gb * 1024} status=none")
        return [*off, f"rm -f {path}", create, f"chmod 600 {path}", f"mkswap {path}", f"swapon {path}"]
    if not current.is_swap:
        return [f"chmod 600 {path}", f"mkswap {path}", f"swapon {path}"]
    if not current.active:
        return [f"swapon {path}"]
    return []


def swap_file(size_gb: int, path: str = SWAPFILE) -> None:
    if size_gb <= 0:
        return
    commands = swap_commands(host.get_fact(SwapFileState, path=path), size_gb, path)
    if commands:
        server.shell(name=f"Swap file {path} of {size_gb} GiB, formatted and on (swap_gb)", commands=commands)
    files.line(
        name=f"/etc/fstab turns {path} on at boot",
        path="/etc/fstab",
        line=rf"^{path}[[:space:]]",
        replace=fstab_line(path),
    )
