"""systemd units for the model servers: write, reload, keep running, restart only after a change."""

from __future__ import annotations

from dataclasses import dataclass

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import server, systemd

from aimachine.configure.common import any_changed, put_files
from aimachine.guest.rendered import ManagedFile


def service_user(name: str, home: str, shell: str = "/usr/sbin/nologin", gpu: bool = True) -> None:
    """A system user for a service, in the GPU device groups (render, video) unless GPU is false."""
    groups = ["render", "video"] if gpu else []
    for group in groups:
        server.group(name=f"Group {group} exists", group=group, system=True)
    server.user(
        name=f"System user {name}" + (f" (groups {', '.join(groups)})" if groups else ""),
        user=name,
        system=True,
        home=home,
        shell=shell,
        create_home=True,
        groups=groups,
    )


@dataclass(frozen=True)
class AroundRestart:
    """Shell commands run just before and just after a restart of the service, and only then."""

    before: tuple[str, str]  # (operation name, command)
    after: tuple[str, str]


def managed_service(
    service: str, units: list[ManagedFile], enabled: bool, also_changed: tuple[OperationMeta, ...] = (),
    around_restart: AroundRestart | None = None,
) -> None:
    """Write the unit files; start and enable (or stop and disable) per the catalog; restart when
    the units or the software changed, but not right after the start that already loaded them."""
    written = put_files(units)  # only the files that differ
    if written:
        systemd.daemon_reload(name="systemctl daemon-reload", _if=any_changed(written))
    start = systemd.service(
        name=f"{service} {'enabled and running' if enabled else 'stopped and disabled'}",
        service=service,
        running=enabled,
        enabled=enabled,
    )
    if enabled and (written or also_changed):
        changed = (*written, *also_changed)

        def restarting() -> bool:
            return any(c.did_change() for c in changed) and not start.did_change()

        if around_restart:
            server.shell(name=around_restart.before[0], commands=[around_restart.before[1]], _if=restarting)
        systemd.service(
            name=f"Restart {service} for the new settings",
            service=service,
            restarted=True,
            _if=restarting,
        )
        if around_restart:
            server.shell(name=around_restart.after[0], commands=[around_restart.after[1]], _if=restarting)
