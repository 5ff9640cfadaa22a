"""Pure parsers for what the configuration facts read on the VM. Tested on real outputs."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

from aimachine import pci
from aimachine.catalog import ollama_names

# 01:00.0 VGA compatible controller [0300]: NVIDIA Corporation GB206 [...] [10de:2d04] (rev a1)
_LSPCI = re.compile(
    r"^(?P<bdf>(?:[0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\s+.*?\[(?P<cls>[0-9a-f]{4})\]:"
    r".*\[(?P<vendor>[0-9a-f]{4}):(?P<device>[0-9a-f]{4})\]",
    re.IGNORECASE,
)
_DISPLAY_CLASSES = ("0300", "0302")  # VGA and 3D controller


@dataclass(frozen=True)
class PciDevice:
    address: str  # with the domain: 0000:01:00.0
    pci_class: str
    vendor_device: str

    @property
    def is_display(self) -> bool:
        return self.pci_class in _DISPLAY_CLASSES


def matching_lines(pattern: re.Pattern, output: str) -> Iterator[re.Match]:
    """The matches of PATTERN on each (stripped) line; other lines, such as noise on stderr, are skipped."""
    for line in output.splitlines():
        found = pattern.match(line.strip())
        if found:
            yield found


def parse_lspci(output: str) -> list[PciDevice]:
    """`lspci -nn` or `lspci -Dnn` lines; other lines are ignored."""
    devices = []
    for found in matching_lines(_LSPCI, output):
        vendor_device = f"{found['vendor']}:{found['device']}".lower()
        devices.append(PciDevice(pci.full(found["bdf"]), found["cls"], vendor_device))
    return devices


def nvidia_gpu(devices: list[PciDevice]) -> PciDevice | None:
    """The first NVIDIA display function (vendor 10de): never matched by name, old pci.ids lack it."""
    return next((d for d in devices if d.vendor_device.startswith("10de:") and d.is_display), None)


@dataclass(frozen=True)
class SmiGpu:
    name: str
    memory_mib: int
    driver: str | None


def parse_smi_query(output: str) -> list[SmiGpu]:
    """`nvidia-smi --query-gpu=name,memory.total[,driver_version] --format=csv[,noheader]`."""
    gpus = []
    for line in output.splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) < 2 or cells[0] == "name":
            continue
        memory = re.match(r"(\d+)\s*MiB", cells[1])
        if memory:
            gpus.append(SmiGpu(cells[0], int(memory[1]), cells[2] if len(cells) > 2 else None))
    return gpus


def parse_ollama_version(output: str) -> str | None:
    """`ollama --version`: 'ollama version is 0.13.5' or, with no server, 'client version is 0.13.5'."""
    found = re.search(r"(?:ollama|client) version is (\S+)", output)
    return found[1] if found else None


def parse_ollama_list(output: str) -> list[str]:
    """`ollama list`: model names from the NAME column (header and blank lines skipped)."""
    names = []
    for line in output.splitlines():
        parts = line.split()
        if parts and parts[0] != "NAME":
            names.append(parts[0])
    return names


_HUMAN_SIZE = re.compile(r"^(?P<value>\d+(?:\.\d+)?) (?P<unit>B|KB|MB|GB|TB)$")
_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


def parse_ollama_sizes(output: str) -> dict[str, int]:
    """`ollama list`: each model's SIZE in bytes (Ollama's format.HumanBytes: decimal units, `4.7 GB`,
    `274 MB`; the size of the layers its manifest lists). A cloud model's `-` has no size: left out."""
    sizes = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0] != "NAME":
            found = _HUMAN_SIZE.match(f"{parts[2]} {parts[3]}")
            if found:
                sizes[parts[0]] = int(float(found["value"]) * _UNITS[found["unit"]])
    return sizes


def has_model(present: Collection[str], wanted: str) -> bool:
    """Is WANTED among the names `ollama list` shows? Ollama lists a name in its shortest form
    (types/model/name.go DisplayShortest): `llama3.1` as `llama3.1:latest`, `library/x:1` as `x:1`, a
    registry of one's own in full, `192.168.1.5:5000/library/tiny:latest`; case does not count."""
    listed = {name.lower() for name in present}
    return wanted.lower() in listed or ollama_names.listed_as(wanted).lower() in listed


_PINNED = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)$")


def parse_pinned_versions(output: str) -> dict[str, str]:
    """`NAME==VERSION` lines (as pip freeze and the VenvVersions fact print them) as {name: version};
    other lines, such as a library's log lines on stdout, are left out."""
    return {found["name"]: found["version"] for found in matching_lines(_PINNED, output)}


def parse_gpg_fingerprints(output: str) -> list[str]:
    """`gpg --show-keys --with-colons`: the `fpr` records' fingerprints (field 10), in order."""
    return [fields[9] for line in output.splitlines()
            if (fields := line.split(":"))[0] == "fpr" and len(fields) > 9 and fields[9]]


def parse_cloud_init_status(output: str) -> str | None:
    """`cloud-init status`: 'status: done' -> 'done', 'status: not started' -> 'not started' (the states
    of cloudinit/cmd/status.py); None when cloud-init is absent."""
    found = re.search(r"^status:[ \t]*(\S.*?)\s*$", output, re.MULTILINE)
    return found[1] if found else None


@dataclass(frozen=True)
class UfwStatus:
    active: bool
    incoming: str | None = None  # default policy: deny / allow / reject
    outgoing: str | None = None
    rules: list[str] = field(default_factory=list)  # spaces collapsed: "22/tcp ALLOW IN 10.0.0.0/24"

    @property
    def port_rules(self) -> list[UfwRule]:
        """The rows that are port rules, read (see parse_ufw_rule)."""
        return [rule for rule in map(parse_ufw_rule, self.rules) if rule]


def parse_ufw_status(output: str) -> UfwStatus:
    """`ufw status verbose`."""
    active = bool(re.search(r"^Status:\s*active", output, re.MULTILINE))
    defaults = re.search(r"^Default:\s*(\w+) \(incoming\),\s*(\w+) \(outgoing\)", output, re.MULTILINE)
    rules, in_table = [], False
    for line in output.splitlines():
        if line.startswith("--"):
            in_table = True
            continue
        if in_table and line.strip():
            rules.append(" ".join(line.split()))
    return UfwStatus(active, defaults[1] if defaults else None, defaults[2] if defaults else None, rules)


def parse_showhold(output: str) -> set[str]:
    """`apt-mark showhold`: one held package per line (`name` or, for a foreign arch, `name:arch`)."""
    names = (line.strip() for line in output.splitlines())
    return {name for name in names if re.fullmatch(r"[a-z0-9][a-z0-9+.:-]+", name)}


@dataclass(frozen=True)
class AptVersions:
    installed: str | None
    candidate: str | None

    @property
    def upgradable(self) -> bool:
        return self.candidate is not None and self.candidate != self.installed


def parse_apt_policy(output: str) -> dict[str, AptVersions]:
    """`apt-cache policy PKG...`: each package's installed and candidate version; `(none)` is None.

    A package apt does not know is simply absent from the result."""
    found: dict[str, AptVersions] = {}
    for block in re.split(r"^(?=\S+:$)", output, flags=re.MULTILINE):
        name = re.match(r"^(\S+):$", block, flags=re.MULTILINE)
        if not name:
            continue
        versions = dict(re.findall(r"^\s+(Installed|Candidate):\s*(\S+)", block, flags=re.MULTILINE))
        installed, candidate = (versions.get(key, "(none)") for key in ("Installed", "Candidate"))
        found[name[1]] = AptVersions(None if installed == "(none)" else installed,
                                     None if candidate == "(none)" else candidate)
    return found


@dataclass(frozen=True)
class SwapFile:
    size: int | None  # bytes; None when the file does not exist
    is_swap: bool  # carries a swap signature (mkswap ran)
    active: bool  # listed in /proc/swaps


def parse_swap_file(output: str) -> SwapFile:
    """`size=BYTES`, `type=swap` (blkid) and `active=yes` lines, as the SwapFileState fact prints them."""
    values = dict(line.strip().split("=", 1) for line in output.splitlines() if "=" in line)
    size = values.get("size", "")
    return SwapFile(int(size) if size.isdigit() else None, values.get("type") == "swap",
                    values.get("active") == "yes")


def parse_module_versions(output: str) -> tuple[str | None, str | None]:
    """`loaded=X` (/sys/module/nvidia/version) and `installed=Y` (the driver package's version, the
    Debian revision dropped: 580.105.08-0ubuntu0.24.04.1 -> 580.105.08); None where a line is empty."""
    values = dict(line.strip().split("=", 1) for line in output.splitlines() if "=" in line)
    installed = values.get("installed", "").split(":")[-1].split("-")[0]
    return values.get("loaded") or None, installed or None


@dataclass(frozen=True)
class UfwRule:
    """One row of `ufw status verbose`, as ufw prints it (its own normalised form)."""

    port: str  # "22", "8000:8010", "80,443"
    proto: str  # "tcp" / "udp"
    action: str  # "ALLOW" / "DENY" / "REJECT" / "LIMIT"
    source: str  # "10.0.0.0/24", "10.0.0.5" (a /32), "Anywhere"
    v6: bool = False  # the "(v6)" twin that a rule without an IPv4 source gets


# 22/tcp ALLOW IN 10.0.0.0/24 | 22/tcp (v6) ALLOW IN Anywhere (v6) | 22/tcp ALLOW Anywhere # comment
_UFW_RULE = re.compile(
    r"^(?P<port>[\d:,]+)/(?P<proto>tcp|udp)(?P<v6> \(v6\))? (?P<action>[A-Z]+)(?: (?:IN|OUT|FWD))? "
    r"(?P<source>\S+)(?: \(v6\))?(?: #.*)?$")


def parse_ufw_rule(row: str) -> UfwRule | None:
    """A rule row of `ufw status [verbose]` (spaces collapsed); None for others (app profiles such as
    `OpenSSH`, rules with a destination address), which the firewall step leaves alone."""
    found = _UFW_RULE.match(" ".join(row.split()))
    if not found:
        return None
    return UfwRule(found["port"], found["proto"], found["action"], found["source"], bool(found["v6"]))


def parse_ss_listening(output: str) -> list[str]:
    """`ss -ltnH`: the local address:port of each listening socket. `*:P` is a dual-stack socket
    (an IPv6 wildcard that also takes IPv4, as Go's net.Listen on 0.0.0.0 creates); `%lo` and such
    name the interface a socket is tied to. Short lines (no peer column) are not sockets."""
    # State Recv-Q Send-Q Local:Port Peer:Port [Process]
    return [line.split()[3] for line in output.splitlines() if len(line.split()) >= 5]


def parse_ping_summary(output: str) -> tuple[int, int] | None:
    """(sent, received) from ping's summary: iputils `3 packets transmitted, 0 received`, busybox
    `3 packets transmitted, 3 packets received`; None when no summary was printed."""
    found = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", output)
    return (int(found[1]), int(found[2])) if found else None


def parse_fetch_check(text: str) -> dict[str, str]:
    """`fetch-models.py check` (aimachine/onvm/fetch_models.py): `complete REPO` / `missing REPO` lines."""
    found = {}
    for line in text.splitlines():
        verdict, _, repo = line.strip().partition(" ")
        if verdict in ("complete", "missing") and repo:
            found[repo] = verdict
    return found


@dataclass(frozen=True)
class FileDigest:
    sha1: str
    mode: str  # octal, as stat's %a prints it: 644
    user: str
    group: str


def parse_file_digests(text: str) -> dict[str, FileDigest]:
    """`PATH SHA1 MODE USER GROUP` lines (the FileDigests fact's own format; paths without spaces)."""
    found = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 5 and len(parts[1]) == 40:
            found[parts[0]] = FileDigest(parts[1], parts[2], parts[3], parts[4])
    return found
