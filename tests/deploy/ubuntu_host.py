"""A scripted Ubuntu 24.04 VM with the RTX 5060 Ti for the @fake connector: fresh or converged.

The fact commands pyinfra sends are answered from this model; the real outputs in tests/fixtures
stand in for ubuntu-drivers, lspci and nvidia-smi.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from aimachine.catalog.schema import Vm
from aimachine.configure.swap import GIB, fstab_line
from aimachine.configure.update import FIRST_BOOT_DONE
from aimachine.guest import rendered
from aimachine.guest.apt_calls import BASE_PACKAGES
from aimachine.guest.drivers import CUDA_KEY_FINGERPRINT
from aimachine.guest.firewall import SSH_PORT
from aimachine.onvm.fetch_models import plan_id
from tests.golden import golden_files

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
OS_RELEASE = """/etc/os-release
PRETTY_NAME="Ubuntu 24.04.3 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION="24.04.3 LTS (Noble Numbat)"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
UBUNTU_CODENAME=noble
---"""
KERNEL = "6.8.0-88-generic"
# the noble cloud image's kernel metapackages (held with the driver once it is in)
KERNEL_METAS = ["linux-generic", "linux-headers-generic", "linux-image-generic"]
DRIVER_VERSION = "580.95.05-0ubuntu0.24.04.2"  # nvidia-driver-580-open, as dpkg-query shows it


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def _stat(path: str, kind: str, mode: str, user: str, group: str, size: int = 0) -> str:
    letters = "".join(c if int(d) & b else "-" for d in mode[-3:] for b, c in ((4, "r"), (2, "w"), (1, "x")))
    return f"user={user} group={group} mode={kind}{letters} atime=1 mtime=1 ctime=1 size={size} '{path}'"


def _path_cmd(path: str) -> re.Pattern:
    return re.compile(rf"test -e {re.escape(path)} \|\|")


@dataclass
class UbuntuHost:
    vm: Vm
    packages: dict[str, str] = field(default_factory=dict)
    files: list[rendered.ManagedFile] = field(default_factory=list)
    dirs: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # path: (user, group, mode)
    users: dict[str, tuple[str, str]] = field(default_factory=dict)  # name: (home, shell)
    units: list[str] = field(default_factory=list)  # running and enabled
    modules: list[str] = field(default_factory=list)
    pci_driver: str = ""
    smi: str = ""
    ufw: str | None = None
    ollama_version: str | None = None
    ollama_models: list[str] = field(default_factory=list)
    vllm_version: str = ""  # what importlib.metadata reads in the venv
    torch_version: str = ""
    litellm_version: str = ""  # the gateway's venv (the same fact command: one answer for both venvs)
    cuda_key: list[str] = field(default_factory=list)  # fingerprints in the CUDA keyring file
    first_boot_done: bool = False
    model_fetched: bool = False  # the fetcher's offline check finds the catalog's model complete
    reboot_required: bool = False
    holds: list[str] = field(default_factory=list)  # apt-mark showhold
    swap: str = ""  # what the SwapFileState fact prints
    fstab: list[str] = field(default_factory=list)
    overrides: dict = field(default_factory=dict)  # matcher: response, tried first

    def responses(self) -> dict:
        r: dict = {}
        for f in self.files:
            sha1 = hashlib.sha1(f.content.encode()).hexdigest()
            r[re.compile(rf"sha1sum {re.escape(f.path)} ")] = f"{sha1}  {f.path}"
            r[_path_cmd(f.path)] = _stat(f.path, "-", f.mode, "root", "root", len(f.content))
        # the FileDigests fact: every managed file in one answer, as the shell loop prints them
        r["sha1sum < "] = [f"{f.path} {hashlib.sha1(f.content.encode()).hexdigest()} {f.mode} root root"
                           for f in self.files]
        for path, (user, group, mode) in self.dirs.items():
            r[_path_cmd(path)] = _stat(path, "d", mode, user, group)
        r[re.compile(r"^uname -s")] = "Linux"
        for tool in ("useradd", "curl"):
            r[re.compile(rf"^command -v {tool}\b")] = f"/usr/bin/{tool}"
        r["uname -r"] = KERNEL
        r["-release | grep -v /"] = OS_RELEASE
        r["dpkg -l"] = [f"ii  {name}  {version}  amd64  x" for name, version in self.packages.items()]
        r["ubuntu-drivers devices"] = fixture("ubuntu-drivers-devices.rtx5060ti.noble.txt")
        r["lspci -Dnn"] = ["0000:" + line for line in fixture("lspci-nn.rtx5060ti.txt").splitlines()]
        r["/sys/bus/pci/devices/"] = self.pci_driver
        r["nvidia-smi --query-gpu"] = self.smi
        r["cloud-init status"] = "status: done"
        r["SSH_CLIENT"] = "192.168.0.10"  # the admin's machine, inside the catalog's admin_network
        r["ollama --version"] = f"ollama version is {self.ollama_version}" if self.ollama_version else ""
        r["ollama list"] = ["NAME ID SIZE MODIFIED"] + [f"{m} abc 4.9 GB now" for m in self.ollama_models]
        r["ufw status verbose"] = self.ufw if self.ufw is not None else "##PYINFRA_NOCMD##"
        r["/proc/modules"] = [f"{m} 100 0 - Live 0x0" for m in self.modules]
        r["--property UnitFileState"] = [
            x for u in self.units for x in (f"Id={u}.service", "UnitFileState=enabled")
        ]
        r["--property SubState"] = [x for u in self.units for x in (f"Id={u}.service", "SubState=running")]
        r["cat /etc/passwd"] = [
            f"{name}:x:999:999::{home}:{shell}|{name}|{name} render video||"
            for name, (home, shell) in self.users.items()
        ]
        r["cat /etc/group"] = ["render:x:991:", "video:x:44:"]
        r["importlib.metadata"] = [f"{name}=={version}" for name, version in
                                   (("vllm", self.vllm_version), ("torch", self.torch_version),
                                    ("litellm", self.litellm_version)) if version]
        # gpg --show-keys --with-colons prints a pub record, then the primary key's fpr record
        r["gpg --show-keys"] = [x for f in self.cuda_key
                                for x in ("pub:-:4096:1:A4B469963BF863CC:::::", f"fpr:::::::::{f}:")]
        vllm = self.vm.services.vllm
        r["check -"] = f"{'complete' if self.model_fetched else 'missing'} {vllm.model}"
        # the wait reads the unit's state and the status file: a fetch that finished at once
        r["systemctl show -p ActiveState"] = ["inactive", json.dumps({
            "plan": plan_id(rendered.models_plan(vllm)), "state": "done", "bytes": 5_500_000_000,
            "total": 5_500_000_000, "fetched": 5_500_000_000, "resumed": 0, "rate": 11_000_000,
            "started": 1000.0, "updated": 1500.0, "finished": 1500.0, "current": "", "error": ""})]
        if self.first_boot_done:
            r[_path_cmd(FIRST_BOOT_DONE)] = _stat(FIRST_BOOT_DONE, "-", "644", "root", "root", 21)
        r["test -e /var/run/reboot-required"] = {"success": self.reboot_required}
        r["random/boot_id"] = BootIds()
        r["apt-mark showhold"] = self.holds
        r["/proc/swaps"] = self.swap
        r["/etc/fstab"] = self.fstab or ["__pyinfra_exists_/etc/fstab"]
        # the driver's version and the loaded module's (the reboot check after an upgrade)
        r["/sys/module/nvidia/version"] = [f"loaded={DRIVER_VERSION.split('-')[0]}",
                                           f"installed={DRIVER_VERSION}"]
        # overrides are tried first (the first matching key wins)
        return {**self.overrides, **{k: v for k, v in r.items() if k not in self.overrides}}


class BootIds:
    """The kernel's boot id, new at every read: a fake host is back from a reboot at once."""

    def __init__(self) -> None:
        self.reads = 0

    def __str__(self) -> str:
        self.reads += 1
        return f"boot-{self.reads}"


def fresh(vm: Vm) -> UbuntuHost:
    """A Ubuntu 24.04 cloud-image VM just booted: the GPU is there, no driver bound."""
    return UbuntuHost(
        vm,
        packages={p: "1" for p in ("openssh-server", "curl", "ca-certificates", *KERNEL_METAS)},
        dirs={"/etc/ssh/sshd_config.d": ("root", "root", "755")},
    )


def converged(vm: Vm) -> UbuntuHost:
    """The same VM after a successful configuration: every fact matches the catalog."""
    s, nv = vm.services, vm.nvidia
    packages = [
        *BASE_PACKAGES,
        "openssh-server",
        "ufw",
        "nvidia-driver-580-open",
        "linux-modules-nvidia-580-open-generic",
        f"linux-modules-nvidia-580-open-{KERNEL}",
        nv.cuda_toolkit,
        "python3",  # in the cloud image; the model fetcher runs on it
        f"python{s.vllm.python}-venv",
        f"python{s.vllm.python}-dev",
        "gcc",
        "libc6-dev",
        "nvtop",
        *KERNEL_METAS,
    ]
    files = golden_files(vm)  # what was reviewed, not what the renderers say today
    dirs = {d: ("root", "root", "755") for d in {f.path.rsplit("/", 1)[0] for f in files}}
    dirs |= {
        s.vllm.cache_dir: ("vllm", "vllm", "750"),
        s.ollama.models_dir: ("ollama", "ollama", "755"),
        "/var/cache/aimachine": ("root", "root", "755"),
        "/usr/share/ollama": ("ollama", "ollama", "755"),
    }
    net = vm.firewall.admin_network
    ufw = (
        f"Status: active\nLogging: on (low)\nDefault: deny (incoming), allow (outgoing), disabled (routed)\n"
        f"New profiles: skip\n\nTo                         Action      From\n"
        f"--                         ------      ----\n{SSH_PORT}/tcp                     ALLOW IN    {net}\n"
    )
    files.append(rendered.ManagedFile(f"{rendered.VLLM_VENV}/bin/activate", "# venv"))
    swap = [f"size={vm.swap_gb * GIB}", "type=swap", "active=yes"] if vm.swap_gb else []
    return UbuntuHost(
        vm,
        packages={p: "1" for p in packages},
        files=files,
        dirs=dirs,
        users={
            "vllm": (s.vllm.cache_dir, "/usr/sbin/nologin"),
            "ollama": ("/usr/share/ollama", "/bin/false"),
        },
        units=["vllm", "ollama", "nvidia-persistenced", "qemu-guest-agent", "ssh"],
        modules=["nvidia", "nvidia_uvm"],
        pci_driver="nvidia",
        smi=fixture("nvidia-smi.query-name-memory-driver.noheader.csv"),
        ufw=ufw,
        ollama_version=s.ollama.version,
        ollama_models=[m if ":" in m else f"{m}:latest" for m in s.ollama.models],
        vllm_version=s.vllm.version,
        torch_version="2.13.0",  # what vLLM 0.32.0 pins, from PyPI
        model_fetched=True,
        cuda_key=[CUDA_KEY_FINGERPRINT],
        first_boot_done=True,
        holds=["linux-modules-nvidia-580-open-generic", "nvidia-driver-580-open", *KERNEL_METAS],
        swap="\n".join(swap),
        fstab=[fstab_line()] if vm.swap_gb else [],
    )
