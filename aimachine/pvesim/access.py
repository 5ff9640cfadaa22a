"""Proxmox VE's permission model, as pve-access-control computes it: ACL entries (path, user or token,
role, propagate), roles as privilege sets, privilege separation (a token holds what both it and its
user hold), root@pam holding everything, and the privilege names of each PVE version.

The algorithm is PVE::AccessControl::roles: walk the path from `/` down; at each level where the
subject has ACL entries, those entries replace what was inherited (an entry on a parent counts for a
child only when it propagates)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

# Every privilege Proxmox VE 8 knows (`pveum role list`, pve-access-control 8.x).
PVE8_PRIVILEGES = (
    "Datastore.Allocate", "Datastore.AllocateSpace", "Datastore.AllocateTemplate", "Datastore.Audit",
    "Group.Allocate", "Mapping.Audit", "Mapping.Modify", "Mapping.Use", "Permissions.Modify",
    "Pool.Allocate", "Pool.Audit", "Realm.Allocate", "Realm.AllocateUser", "SDN.Allocate", "SDN.Audit",
    "SDN.Use", "Sys.AccessNetwork", "Sys.Audit", "Sys.Console", "Sys.Incoming", "Sys.Modify",
    "Sys.PowerMgmt", "Sys.Syslog", "User.Modify", "VM.Allocate", "VM.Audit", "VM.Backup", "VM.Clone",
    "VM.Config.CDROM", "VM.Config.CPU", "VM.Config.Cloudinit", "VM.Config.Disk", "VM.Config.HWType",
    "VM.Config.Memory", "VM.Config.Network", "VM.Config.Options", "VM.Console", "VM.Migrate",
    "VM.Monitor", "VM.PowerMgmt", "VM.Snapshot", "VM.Snapshot.Rollback",
)
# Proxmox VE 9 (pve-access-control 9.0.2) dropped VM.Monitor for the guest agent's own privileges.
PVE9_PRIVILEGES = tuple(sorted({*PVE8_PRIVILEGES} - {"VM.Monitor"} | {
    "VM.GuestAgent.Audit", "VM.GuestAgent.FileRead", "VM.GuestAgent.FileSystemMgmt",
    "VM.GuestAgent.FileWrite", "VM.GuestAgent.Unrestricted"}))
ROOT = "root@pam"


def privileges_of(version: str) -> tuple[str, ...]:
    return PVE9_PRIVILEGES if version.startswith("9") else PVE8_PRIVILEGES


@dataclass(frozen=True)
class Acl:
    path: str
    role: str
    subject: str  # a user (USER@REALM) or a token (USER@REALM!ID)
    propagate: bool = True


@dataclass
class Access:
    version: str
    roles: dict[str, frozenset[str]] = field(default_factory=dict)
    acl: list[Acl] = field(default_factory=list)
    privsep: dict[str, bool] = field(default_factory=dict)  # token id -> privilege separation

    def __post_init__(self) -> None:
        self.roles.setdefault("Administrator", frozenset(privileges_of(self.version)))
        known = set(privileges_of(self.version))
        for name, privs in self.roles.items():
            unknown = sorted(set(privs) - known)
            if unknown:  # `pveum role add` refuses these on this version
                raise ValueError(f"role {name}: invalid privilege '{unknown[0]}' on PVE {self.version}")

    def _roles(self, subject: str, path: str) -> dict[str, bool]:
        """role -> propagate, for `subject` on `path` (PVE::AccessControl::roles)."""
        held: dict[str, bool] = {}
        levels = ["/"] + ["/" + "/".join(path.strip("/").split("/")[:n])
                          for n in range(1, len(path.strip("/").split("/")) + 1) if path.strip("/")]
        for level in levels:
            entries = [a for a in self.acl if a.path == level and a.subject == subject]
            if not entries:
                continue
            final = level == path
            new = {a.role: a.propagate for a in entries if final or a.propagate}
            held = new  # entries at a deeper level replace what was inherited
        return held

    def _privs(self, subject: str, path: str) -> dict[str, bool]:
        out: dict[str, bool] = {}
        for role, propagate in self._roles(subject, path).items():
            for priv in self.roles.get(role, ()):
                out[priv] = out.get(priv, False) or propagate
        return out

    def privileges(self, token: str, path: str) -> dict[str, bool]:
        """What `token` (USER@REALM!ID) holds on `path`: privilege -> propagates."""
        user = token.split("!", 1)[0]
        if user == ROOT and not self.privsep.get(token, True):
            return dict.fromkeys(privileges_of(self.version), True)
        of_user = (dict.fromkeys(privileges_of(self.version), True) if user == ROOT
                   else self._privs(user, path))
        if not self.privsep.get(token, True):
            return of_user
        of_token = self._privs(token, path)
        return {p: of_token[p] and of_user[p] for p in of_token if p in of_user}

    def holds_any(self, token: str, path: str, privs: Iterable[str]) -> bool:
        held = self.privileges(token, path)
        return any(p in held for p in privs)

    def tree(self, token: str) -> dict[str, dict[str, int]]:
        """GET /access/permissions: every path with an ACL entry (and /), with what the token holds."""
        paths = sorted({"/", *(a.path for a in self.acl)})
        out = {}
        for path in paths:
            held = self.privileges(token, path)
            if held:
                out[path] = {p: int(prop) for p, prop in sorted(held.items())}
        return out


def from_state(data: dict, version: str) -> tuple[Access, dict[str, str]]:
    """The Access model and token secrets (full token string -> token id) of a state file.

    `tokens`: a string `USER@REALM!ID=SECRET` holds Administrator on `/` (user and token); a mapping
    `{token: ..., privs: [...]}` holds a role of exactly those privileges on `/`; a mapping without
    `privs` holds only what `acl` grants. `roles: {NAME: [privs]}`; `acl: [{path, role, users: [...],
    tokens: [...], propagate}]`; `privsep: false` on a token entry makes it hold its user's rights."""
    roles = {name: frozenset(privs) for name, privs in (data.get("roles") or {}).items()}
    acl: list[Acl] = []
    privsep: dict[str, bool] = {}
    secrets: dict[str, str] = {}
    for n, entry in enumerate(data.get("tokens") or []):
        full = entry if isinstance(entry, str) else str(entry["token"])
        ident = full.split("=", 1)[0]
        secrets[full] = ident
        if isinstance(entry, dict):
            privsep[ident] = bool(entry.get("privsep", True))
        if isinstance(entry, str):
            role = "Administrator"
        elif "privs" in entry:
            role = f"token-{n}"
            roles[role] = frozenset(entry["privs"] or [])
        else:
            continue
        for subject in (ident, ident.split("!", 1)[0]):
            acl.append(Acl("/", role, subject, True))
    for entry in data.get("acl") or []:
        for subject in [*(entry.get("users") or []), *(entry.get("tokens") or [])]:
            acl.append(Acl(str(entry["path"]), str(entry["role"]), str(subject),
                           bool(entry.get("propagate", True))))
    return Access(version, roles, acl, privsep), secrets
