"""The ufw commands that take the VM's firewall from what `ufw status verbose` shows to the catalog's.

Rules are compared in ufw's own form: `ufw status` prints a source with its host bits cleared, a single
address (/32) without its prefix and 0.0.0.0/0 as `Anywhere` (tests/fixtures/ufw-status-verbose.*,
captured with ufw 0.36.2). Compared as the catalog writes them, such rules never match: the run adds
them again every time and never closes one the catalog no longer asks for.
"""

from __future__ import annotations

import ipaddress

from aimachine.catalog.schema import Vm, split_bind
from aimachine.guest.parsers import UfwRule, UfwStatus

SSH_PORT = 22
SERVICE_PORTS = (8000, 11434)  # the model servers' default ports, managed even after a bind moves away


def wanted_ports(vllm_expose: bool, vllm_port: int, ollama_expose: bool, ollama_port: int) -> list[int]:
    ports = [SSH_PORT]
    ports += [vllm_port] if vllm_expose else []
    ports += [ollama_port] if ollama_expose else []
    return ports


def gateway_rules(vm: Vm) -> list[tuple[str, int]]:
    """(source network, port) the gateway adds to VM's firewall (none without a gateway in the catalog):
    on a VM it fronts, its engines' ports from the gateway's VM (and from firewall.admin_network with
    gateway.admin_access); on the gateway's VM, its port from gateway.allow_from (default: admin_network).
    The gateway's own VM reaches its engines on loopback, which ufw always allows."""
    rules: list[tuple[str, int]] = []
    services = [s for s in (vm.services.vllm, vm.services.ollama) if s.enabled]
    if vm.fronted and vm.fronted.gateway_address:
        sources = [f"{vm.fronted.gateway_address}/32"]
        sources += [vm.firewall.admin_network] if vm.fronted.admin_access else []
        rules += [(source, split_bind(s.bind)[1]) for s in services for source in sources]
    gateway = vm.runs_gateway
    if gateway and not ipaddress.ip_address(split_bind(gateway.bind)[0]).is_loopback:
        rules.append((gateway.allow_from or vm.firewall.admin_network, split_bind(gateway.bind)[1]))
    return rules


def ufw_source(network: str) -> str:
    """NETWORK as `ufw status` prints a rule's source (IPv4)."""
    net = ipaddress.IPv4Network(network, strict=False)
    if net.prefixlen == 0:
        return "Anywhere"
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def _from(rule: UfwRule) -> str:
    """The `from` that names RULE in `ufw delete`: 0.0.0.0/0 is the IPv4-only rule printed `Anywhere`."""
    return "0.0.0.0/0" if rule.source == "Anywhere" else rule.source


def ufw_commands(status: UfwStatus | None, network: str, ports: list[int],
                 managed_ports: tuple[int, ...] = SERVICE_PORTS,
                 extra: list[tuple[str, int]] | tuple = ()) -> list[str]:
    """Allow rules first, then deletions, then the default policy, then enable: SSH is never cut off
    mid-change.

    Deleted: an IPv4 tcp ALLOW rule on SSH or a managed port that the catalog does not ask for (a port
    no longer exposed, an admin network changed). Other rules (other ports, IPv6 twins, app profiles,
    DENY rules) are the admin's and are left alone. EXTRA: (source network, port) rules beside those
    from NETWORK (gateway_rules)."""
    status = status or UfwStatus(active=False)
    present = [r for r in status.port_rules if r.proto == "tcp" and r.action == "ALLOW" and not r.v6]
    have = {(r.port, r.source) for r in present}
    rules = list(dict.fromkeys([*((network, port) for port in ports), *extra]))
    wanted = {(str(port), ufw_source(net)) for net, port in rules}
    commands = [f"ufw allow proto tcp from {net} to any port {port}"
                for net, port in rules if (str(port), ufw_source(net)) not in have]
    managed = {str(port) for port in (SSH_PORT, *ports, *managed_ports, *(port for _, port in extra))}
    commands += [f"ufw delete allow proto tcp from {_from(r)} to any port {r.port}"
                 for r in present if r.port in managed and (r.port, r.source) not in wanted]
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
