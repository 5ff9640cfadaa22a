"""PCI addresses written one way: lower-case, with the domain (0000:01:00.0), compared by device
(0000:01:00) when the function does not matter. The catalog, lspci and the Proxmox API each write
them a little differently."""

from __future__ import annotations


def full(address: str) -> str:
    """`01:00.0` or `0000:01:00.0` -> `0000:01:00.0` (a function, if any, is kept)."""
    address = address.strip().lower()
    return address if address.count(":") == 2 else f"0000:{address}"


def device(address: str) -> str:
    """The device without its function: `01:00.1` -> `0000:01:00`."""
    address = full(address)
    return address.rsplit(".", 1)[0] if "." in address else address
