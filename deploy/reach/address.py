"""The VM's address: the catalog's static one, or the first usable IPv4 the guest agent reports."""

from __future__ import annotations

import ipaddress
from typing import Any


def agent_ipv4(answer: dict[str, Any] | list | None) -> str | None:
    """First IPv4 from network-get-interfaces that is not loopback or link-local (pure)."""
    interfaces = answer.get("result", []) if isinstance(answer, dict) else (answer or [])
    for iface in interfaces:
        if iface.get("name") == "lo":
            continue
        for addr in iface.get("ip-addresses") or []:
            if addr.get("ip-address-type") != "ipv4":
                continue
            ip = ipaddress.ip_address(addr.get("ip-address", "0.0.0.0"))
            if not (ip.is_loopback or ip.is_link_local or ip.is_unspecified):
                return str(ip)
    return None
