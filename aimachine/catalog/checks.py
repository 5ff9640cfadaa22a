"""Checks for single catalog values: each returns the clean value or raises Invalid.

A check knows what it allows, so every error can say what was found and what would do.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], Any]


class Invalid(ValueError):
    """A value that does not fit: `allowed` says what would, `hint` how to fix it."""

    def __init__(self, allowed: str, hint: str = ""):
        super().__init__(allowed)
        self.allowed = allowed
        self.hint = hint


def describe(value: Any) -> str:
    """How a found value reads in an error: its text and, where it helps, its YAML type."""
    kinds = {bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "a list", dict: "a mapping"}
    kind = kinds.get(type(value), type(value).__name__)
    if value is None:
        return "nothing (empty value)"
    if isinstance(value, (dict, list)):
        return kind
    return f"{value!r} ({kind})"


def _text(value: Any, allowed: str) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # YAML turns unquoted 0000:01:00 into the number 60 and 0.32 into a float
        raise Invalid(allowed, "put the value in quotes so YAML keeps it as text")
    if not isinstance(value, str) or not value.strip():
        raise Invalid(allowed)
    return value.strip()


def text(allowed: str = "a non-empty string") -> Check:
    return lambda value: _text(value, allowed)


def size_table(value: Any) -> dict[str, int]:
    """{model name: size in MB}: names as text, sizes whole MB from 1."""
    allowed = 'a mapping of model name to size in MB, e.g. {"llama3.2:3b": 2000}'
    if not isinstance(value, dict):
        raise Invalid(allowed)
    out = {}
    for name, size in value.items():
        if not isinstance(name, str) or not name.strip():
            raise Invalid(allowed, "put each model name in quotes")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise Invalid(allowed, f"the size of {name!r} must be a whole number of MB")
        out[name.strip()] = size
    return out


def scalar_text(allowed: str) -> Check:
    """A command-line token: text, or a number YAML read as one (`16` is the token "16")."""

    def check(value: Any) -> str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, bool):
            raise Invalid(allowed, "put it in quotes: YAML reads it as a boolean")
        return _text(value, allowed)

    return check


def pattern(regex: str, allowed: str, hint: str | Callable[[str], str] = "") -> Check:
    """Text matching `regex`; `hint` says how to fix a mismatch, or is a function of the text that does
    (returning "" where it has nothing to say)."""
    compiled = re.compile(regex)

    def check(value: Any) -> str:
        found = _text(value, allowed)
        if not compiled.fullmatch(found):
            raise Invalid(allowed, hint(found) if callable(hint) else hint)
        return found

    return check


def choice(*options: str) -> Check:
    allowed = "one of " + ", ".join(repr(o) for o in options)

    def check(value: Any) -> str:
        if value not in options:
            raise Invalid(allowed)
        return value

    return check


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Invalid("true or false")
    return value


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|[KMGT])\s*$", re.IGNORECASE)
_TO_MB = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}


def integer(low: int, high: int, unit: str = "") -> Check:
    """A whole number in [low, high]; `unit` ("MB" or "GB") turns '50GB' into a precise hint."""
    allowed = f"a whole number{' of ' + unit if unit else ''} from {low} to {high}"

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(allowed, _unit_hint(value, unit))
        if not low <= value <= high:
            raise Invalid(allowed)
        return value

    return check


def _unit_hint(value: Any, unit: str) -> str:
    if not unit or not isinstance(value, str):
        return ""
    match = _SIZE.match(value)
    if not match:
        return ""
    mb = float(match.group(1)) * _TO_MB[match.group(2)[0].lower()]
    wanted = mb if unit == "MB" else mb / 1024
    return f"this field is in {unit} without a suffix: write {round(wanted)} for {value.strip()}"


def number(low: float, high: float) -> Check:
    allowed = f"a number from {low} to {high}"

    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Invalid(allowed)
        if not low <= value <= high:
            raise Invalid(allowed)
        return float(value)

    return check


def list_of(item: Check, allowed: str) -> Check:
    def check(value: Any) -> list:
        if not isinstance(value, list):
            raise Invalid(allowed)
        return [item(v) for v in value]

    return check


def one_of_checks(first: Check, second: Check, allowed: str) -> Check:
    """Accept what either check accepts (e.g. 'auto' or a driver branch number)."""

    def check(value: Any) -> Any:
        for candidate in (first, second):
            try:
                return candidate(value)
            except Invalid:
                continue
        raise Invalid(allowed)

    return check


def ip_port(value: Any) -> str:
    allowed = "IP:port, e.g. 127.0.0.1:8000"
    found = _text(value, allowed)
    host, _, port = found.rpartition(":")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise Invalid(allowed) from None
    if not port.isdigit() or not 1 <= int(port) <= 65535:  # no ':' leaves no valid host above
        raise Invalid(allowed)
    return found


def split_bind(bind: str) -> tuple[str, int]:
    """A checked IP:port bind ("127.0.0.1:8000", "[::1]:8000") as (host, port); brackets dropped."""
    host, _, port = bind.rpartition(":")
    return host.strip("[]"), int(port)


def ipv4_network(value: Any) -> str:
    allowed = "an IPv4 network in CIDR form, e.g. 192.168.0.0/24"
    found = _text(value, allowed)
    try:
        return str(ipaddress.IPv4Network(found, strict=False))
    except ValueError:
        raise Invalid(allowed) from None


def ipv4_address(value: Any) -> str:
    allowed = "an IPv4 address, e.g. 192.168.0.1"
    found = _text(value, allowed)
    try:
        return str(ipaddress.IPv4Address(found))
    except ValueError:
        raise Invalid(allowed) from None


def ipv4_config(value: Any) -> str:
    allowed = "'dhcp' or an IPv4 address with prefix, e.g. 192.168.0.140/24"
    found = _text(value, allowed)
    if found == "dhcp":
        return found
    try:
        ipaddress.IPv4Interface(found)
    except ValueError:
        raise Invalid(allowed) from None
    if "/" not in found:
        raise Invalid(allowed, "add the prefix length, e.g. /24")
    return found


_HTTPS_URL = "an https URL of the Proxmox API without a path, e.g. https://192.168.0.19:8006"


def _url_hint(found: str) -> str:
    if "/api2" in found:
        return "leave out /api2/json: it is added for you"
    return "the Proxmox API answers on https (port 8006)" if found.startswith("http://") else ""


https_url = pattern(r"https://[A-Za-z0-9.\-\[\]:]+(:\d+)?/?", _HTTPS_URL, _url_hint)


def absolute_path(value: Any) -> str:
    return pattern(r"/[^\0]*", "an absolute path, e.g. /var/lib/ollama/models")(value)


def duration(value: Any) -> str:
    """Ollama's keep-alive syntax: 5m, 1h30m, 300s, 0 (unload at once) or -1 (never)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return pattern(r"-1|0|(\d+h)?(\d+m)?(\d+s)?", "a duration like 5m, 1h, 30s, 0 or -1")(value)


def sha256(value: Any) -> str:
    return pattern(r"[0-9a-f]{64}", "64 lower-case hex digits (a sha256 checksum)")(value)


def version(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise Invalid("a version in quotes, e.g. \"0.32.0\"", "quote the version so YAML keeps it as text")
    return pattern(r"\d+\.\d+(\.\d+)*([.\-+]?[A-Za-z0-9.]+)?", "a version like 0.32.0")(value)


_PCI = "a PCI address DDDD:BB:DD or DDDD:BB:DD.F in hex, e.g. 0000:01:00"


def _pci_hint(found: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{2}:[0-9a-fA-F]{2}(\.\d)?", found):
        return ""
    return (f"add the domain: 0000:{found.split('.')[0]} (without the function (.0) all functions of the "
            "card pass through: GPU and its audio)")


_pci_pattern = pattern(r"[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}(\.[0-7])?", _PCI, _pci_hint)


def pci_address(value: Any) -> str:
    return _pci_pattern(value).lower()


def vendor_device(value: Any) -> str:
    return pattern(
        r"[0-9a-fA-F]{4}:[0-9a-fA-F]{4}",
        "vendor:device as two 4-digit hex ids, e.g. 10de:2d04",
        "lspci -nn on the Proxmox host shows it in brackets",
    )(value).lower()


def _cuda_hint(found: str) -> str:
    if found.split("-")[0:2] in (["cuda"], ["cuda", "drivers"]):
        return "never 'cuda' or 'cuda-drivers': they replace the Ubuntu driver"
    return ""


def cuda_toolkit(value: Any) -> str:
    allowed = "cuda-toolkit-MAJOR-MINOR at 12-8 or newer, e.g. cuda-toolkit-12-8"
    found = pattern(r"cuda-toolkit-\d+-\d+", allowed, _cuda_hint)(value)
    major, minor = (int(x) for x in found.split("-")[2:])
    if (major, minor) < (12, 8):
        raise Invalid(allowed, "the RTX 5060 Ti (sm_120) needs CUDA 12.8 or newer")
    return found


# Names Proxmox accepts for storages, nodes and mappings; VM names are DNS labels.
proxmox_id = pattern(r"[A-Za-z][A-Za-z0-9\-_.]*",
                     "a Proxmox name: letters, digits, - _ . (starting with a letter)")
vm_name = pattern(
    r"vm-[a-z0-9]([a-z0-9\-]{0,58}[a-z0-9])?",
    "a host name starting with 'vm-': lower-case letters, digits and '-', at most 63 characters",
)
unix_user = pattern(r"[a-z_][a-z0-9_\-]{0,31}", "a Unix user name, e.g. ubuntu")
volume_id = pattern(
    r"[A-Za-z][A-Za-z0-9\-_.]*:(iso|import)/[^/\s]+\.(img|qcow2|raw)",
    "a Proxmox volume id of a cloud image, e.g. local:iso/noble-server-cloudimg-amd64.img",
)
cpu_type = pattern(r"[A-Za-z0-9\-_.]+", "a Proxmox CPU type, e.g. host")


_PUBLIC_KEY_FILE = "a path to an SSH public key file ending in .pub, e.g. ~/.ssh/id_ed25519.pub"


def _key_file_hint(found: str) -> str:
    if found.startswith(("ssh-", "ecdsa-", "sk-")):
        return "the key itself never goes into the catalog: name the file that holds it"
    return "name the public half, the file ending in .pub"


public_key_file = pattern(r"[^\n]+\.pub", _PUBLIC_KEY_FILE, _key_file_hint)


_SECRET_FILE = "a path to the file that holds the key, e.g. ~/.config/aimachine/gateway.key"


def secret_file(value: Any) -> str:
    """A path to a file holding a secret; a value that looks like the secret itself is refused."""
    found = _text(value, _SECRET_FILE)
    if "\n" in found or found.startswith("sk-"):
        raise Invalid(_SECRET_FILE, "the key itself never goes into the catalog: name the file that holds it")
    return found
