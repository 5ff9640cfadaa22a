"""The ufw commands that take the VM's firewall from what `ufw status verbose` shows to the catalog's."""

from __future__ import annotations

import ipaddress

from deploy.guest.parsers import UfwStatus

SSH_PORT = 22
SERVICE_PORTS = (8000, 11434)  # the model servers' ports this tool manages; other rules are left alone


def wanted_ports(vllm_expose: bool, vllm_port: int, ollama_expose: bool, ollama_port: int) -> list[int]:
    ports = [SSH_PORT]
    ports += [vllm_port] if vllm_expose else []
    ports += [ollama_port] if ollama_expose else []
    return ports


def _rule(port: int, network: str) -> str:
    return f"{port}/tcp ALLOW IN {network}"


def ufw_commands(
    status: UfwStatus | None, network: str, ports: list[int], managed_ports: tuple[int, ...] = SERVICE_PORTS
) -> list[str]:
    """Allow rules first, then the default policy, then enable: SSH is never cut off mid-change."""
    status = status or UfwStatus(active=False)
    commands = [
        f"ufw allow proto tcp from {network} to any port {port}"
        for port in ports
        if _rule(port, network) not in status.rules
    ]
    commands += [
        f"ufw delete allow proto tcp from {network} to any port {port}"
        for port in managed_ports
        if port not in ports and _rule(port, network) in status.rules
    ]
    if status.incoming != "deny":
        commands.append("ufw default deny incoming")
    if status.outgoing != "allow":
        commands.append("ufw default allow outgoing")
    if not status.active:
        commands.append("ufw --force enable")
    return commands


def locks_out(client: str | None, network: str) -> bool:
    """Would a firewall that allows SSH only from NETWORK cut off this SSH client?

    An unknown client (no SSH_CLIENT) or a loopback one (a tunnel; ufw always allows lo) is not."""
    try:
        address = ipaddress.ip_address((client or "").strip())
    except ValueError:
        return False
    return not address.is_loopback and address not in ipaddress.ip_network(network, strict=False)
