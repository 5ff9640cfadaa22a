"""security: sshd keys only (checked with `sshd -t` before reload); ufw denies incoming traffic
except SSH (and exposed services) from the admin network."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import server

from aimachine.configure.common import ensure_packages, put_files, stop
from aimachine.configure.facts import SshClientAddress, UfwStatus
from aimachine.guest.apt_calls import SECURITY_PACKAGES
from aimachine.guest.firewall import SERVICE_PORTS, gateway_rules, locks_out, ufw_commands, wanted_ports
from aimachine.guest.rendered import SSHD_DROPIN, split_bind, sshd_dropin


@deploy("security")
def security() -> None:
    vm = host.data.vm
    ensure_packages(SECURITY_PACKAGES, "sshd and the firewall")
    for dropin in put_files([sshd_dropin()]):  # written only when it differs
        # A broken config must never reach a running sshd: the drop-in goes again when the check fails.
        server.shell(
            name="sshd -t accepts the new configuration",
            commands=[f"sshd -t || {{ rc=$?; rm -f {SSHD_DROPIN}; exit $rc; }}"],
            _if=dropin.did_change,
        )
        server.shell(name="Reload sshd", commands=["systemctl try-reload-or-restart ssh.service"],
                     _if=dropin.did_change)
    if not vm.firewall.enabled:
        return
    services = vm.services
    vllm_port, ollama_port = split_bind(services.vllm.bind)[1], split_bind(services.ollama.bind)[1]
    ports = wanted_ports(services.vllm.expose, vllm_port, services.ollama.expose, ollama_port)
    network = vm.firewall.admin_network
    # the catalog's own ports are managed too, so un-exposing a service on a moved bind closes it; a gateway
    # in the catalog adds its rules (catalog/gateway.py), and taking it out closes them
    extra = gateway_rules(vm)
    commands = ufw_commands(host.get_fact(UfwStatus), network, ports,
                            managed_ports=(*SERVICE_PORTS, vllm_port, ollama_port), extra=extra)
    client = host.get_fact(SshClientAddress, _sudo=False) if commands else None
    if locks_out(client, network):
        stop(f"this run connects from {client}, which firewall.admin_network {network} does not include: "
             "enabling the firewall would lock you out. Put your address in admin_network (or connect from "
             "inside it) and run again")
        return
    if commands:
        also = "".join(f", tcp {port} from {source}" for source, port in extra)
        server.shell(
            name=f"ufw: deny incoming, allow tcp {', '.join(map(str, ports))} "
            f"from {vm.firewall.admin_network}{also}",
            commands=commands,
        )
