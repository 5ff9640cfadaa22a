"""The cloud-init user-data snippet: rendered from the catalog, written to the node's snippets
storage over SSH only when its content differs, so the SSH key never enters Terraform."""

from __future__ import annotations

import hashlib
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from aimachine.catalog.schema import Catalog, Vm
from aimachine.catalog.yamlsrc import format_path, load
from aimachine.errors import PhaseError
from aimachine.reach import ssh

KEY_PREFIXES = ("ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-")


def read_public_key(vm: Vm) -> str:
    """The one-line public key from the file the catalog names; a clear error otherwise."""
    path = os.path.expanduser(vm.login.ssh_public_key_file)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read().strip()
    except FileNotFoundError:
        raise PhaseError("catalog", f"{vm.name}: login.ssh_public_key_file {path} does not exist",
                         f"create a key pair (`ssh-keygen -t ed25519 -f {path.removesuffix('.pub')}`) "
                         "or point login.ssh_public_key_file at your .pub file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PhaseError("catalog", f"{vm.name}: cannot read {path}: {exc}",
                         "make the file readable") from None
    if "PRIVATE KEY" in text or not text.startswith(KEY_PREFIXES) or "\n" in text:
        raise PhaseError("catalog", f"{vm.name}: {path} is not one OpenSSH public key line "
                         "(expected e.g. 'ssh-ed25519 AAAA... comment')",
                         "point login.ssh_public_key_file at the .pub file, never the private key")
    return text


def key_file_problems(catalog: Catalog) -> list[str]:
    """Each VM's public key file checked as the deploy reads it, as catalog problems (file, line, field):
    `catalog validate` fails where the deploy would."""
    src = load(Path(catalog.path).read_text(encoding="utf-8"))
    problems = []
    for i, vm in enumerate(catalog.vms):
        try:
            read_public_key(vm)
        except PhaseError as err:
            where = ("vms", i, "login", "ssh_public_key_file")
            message = f"{err.message.removeprefix(vm.name + ': ')} ({err.remedy})"
            problems.append(f"{catalog.path}:{src.line(where)}: {format_path(where)}: {message}")
    return problems


def render_user_data(vm: Vm, public_key: str) -> str:
    """User-data: the login user with the key (no password), the guest agent, host name = VM name."""
    return cloud_config(vm.name, vm.login.user, public_key)


def cloud_config(hostname: str, user: str, public_key: str) -> str:
    """The #cloud-config text of render_user_data, from its three inputs (the test host renders it too)."""
    doc = {
        "hostname": hostname,
        "manage_etc_hosts": True,
        "users": [{"name": user, "groups": ["adm", "sudo"], "shell": "/bin/bash",
                   "sudo": "ALL=(ALL) NOPASSWD:ALL", "lock_passwd": True,
                   "ssh_authorized_keys": [public_key]}],
        "ssh_pwauth": False,
        "disable_root": True,
        "package_update": True,
        # the configure step's facts read these before any of its operations could install them
        "packages": ["qemu-guest-agent", "ubuntu-drivers-common", "pciutils"],
        # start, not enable: on noble the unit is static (udev starts it when the virtio port appears at
        # boot); the package arrives after that, so this boot needs the start
        "runcmd": [["systemctl", "start", "qemu-guest-agent"]],
    }
    return "#cloud-config\n" + yaml.safe_dump(doc, sort_keys=False, width=1000)


def snippet_file(vm: Vm) -> str:
    return f"{vm.name}-user-data.yaml"


def snippet_volume(catalog: Catalog, vm: Vm) -> str:
    """The volume id Terraform's user_data_file_id points at."""
    return f"{catalog.proxmox.storages.snippets}:snippets/{snippet_file(vm)}"


@dataclass(frozen=True)
class Written:
    path: str
    changed: bool
    sha256: str


def node_target(catalog: Catalog, endpoint: str) -> ssh.SshTarget:
    """SSH to the node the API runs on, as proxmox.ssh_user, with the admin's own keys."""
    return ssh.SshTarget(host=urlsplit(endpoint).hostname or "", user=catalog.proxmox.ssh_user)


def write_snippet(target: ssh.SshTarget, storage_path: str, name: str, content: str) -> Written:
    """Write `content` to STORAGE_PATH/snippets/NAME unless the remote sha256 already matches."""
    path = f"{storage_path.rstrip('/')}/snippets/{name}"
    digest = hashlib.sha256(content.encode()).hexdigest()
    q = shlex.quote(path)
    probe = ssh.run(target, f"sha256sum {q} 2>/dev/null || true", timeout=60)
    if probe.returncode != 0:
        raise PhaseError("provision", f"cannot reach {target.login} over SSH: "
                         f"{(probe.stderr or probe.stdout).strip()}",
                         f"make `ssh {target.login} true` work with your key "
                         "(proxmox.ssh_user in catalog.yml)")
    if probe.stdout.split()[:1] == [digest]:
        return Written(path, False, digest)
    tmp = shlex.quote(path + ".tmp")
    write = ssh.run(target, f"mkdir -p {shlex.quote(os.path.dirname(path))} && umask 022 && "
                    f"cat > {tmp} && mv -f {tmp} {q}", input_text=content, timeout=60)
    if write.returncode != 0:
        raise PhaseError("provision", f"writing {path} on {target.host} failed: "
                         f"{(write.stderr or write.stdout).strip()}",
                         f"check that {target.user} may write {os.path.dirname(path)} on the node")
    return Written(path, True, digest)
