"""Custom pyinfra facts: each runs one read-only command and hands its output to a pure parser."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

from aimachine.guest import parsers
from aimachine.guest.apt_calls import APT_LOCK_WAIT


def _text(output: list[str]) -> str:
    return "\n".join(output)


class UbuntuDriversDevices(FactBase):
    """The raw `ubuntu-drivers devices` output (noise included), or None without ubuntu-drivers."""

    requires_command = "ubuntu-drivers"

    def command(self) -> str:
        return "ubuntu-drivers devices 2>&1 || true"

    def process(self, output: list[str]) -> str:
        return _text(output)


class PciDevices(FactBase):
    """`lspci -Dnn` as PciDevice records; None when lspci is missing."""

    requires_command = "lspci"
    default = list

    def command(self) -> str:
        return "lspci -Dnn"

    def process(self, output: list[str]) -> list[parsers.PciDevice]:
        return parsers.parse_lspci(_text(output))


class PciDriver(FactBase):
    """The kernel driver bound to a PCI function (`nouveau`, `nvidia`), None when unbound."""

    def command(self, address: str) -> str:
        link = shlex.quote(f"/sys/bus/pci/devices/{address}/driver")
        return f'if [ -e {link} ]; then basename "$(readlink {link})"; fi'

    def process(self, output: list[str]) -> str | None:
        return output[0].strip() if output and output[0].strip() else None


class NvidiaSmi(FactBase):
    """GPUs nvidia-smi reports; [] when it fails (no driver loaded), None when it is not installed."""

    requires_command = "nvidia-smi"

    def command(self) -> str:
        return (
            "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader "
            "2>/dev/null || true"
        )

    def process(self, output: list[str]) -> list[parsers.SmiGpu]:
        return parsers.parse_smi_query(_text(output))


class CloudInitStatus(FactBase):
    requires_command = "cloud-init"

    def command(self) -> str:
        return "cloud-init status 2>/dev/null || true"

    def process(self, output: list[str]) -> str | None:
        return parsers.parse_cloud_init_status(_text(output))


class OllamaVersion(FactBase):
    """The installed Ollama's version, None when /usr/local/bin/ollama is missing or broken."""

    def command(self) -> str:
        return "if [ -x /usr/local/bin/ollama ]; then /usr/local/bin/ollama --version 2>&1 || true; fi"

    def process(self, output: list[str]) -> str | None:
        return parsers.parse_ollama_version(_text(output))


class VenvVersions(FactBase):
    """Distributions' versions in a venv, local parts kept (`0.33.0+cu130`, `2.13.0+cu129`), read by
    importlib.metadata: pyinfra's PipPackages reads `pip freeze` with a pattern that has no `+`, so a
    local version would look missing and be reinstalled on every run. {} without the venv; a package
    that is not installed is left out."""

    default = dict

    def command(self, venv: str, packages: tuple[str, ...]) -> str:
        python = shlex.quote(f"{venv}/bin/python")
        code = shlex.quote(
            "import importlib.metadata as m\n"
            f"for p in {list(packages)!r}:\n"
            "    try: print(p + '==' + m.version(p))\n"
            "    except m.PackageNotFoundError: pass")
        return f"if [ -x {python} ]; then {python} -c {code} 2>/dev/null || true; fi"

    def process(self, output: list[str]) -> dict[str, str]:
        return parsers.parse_pinned_versions(_text(output))


class KeyringFingerprints(FactBase):
    """The fingerprints (primary key and subkeys) in a keyring file; [] when it is missing."""

    default = list

    def command(self, path: str) -> str:
        quoted = shlex.quote(path)
        return f"if [ -s {quoted} ]; then gpg --show-keys --with-colons {quoted} 2>/dev/null || true; fi"

    def process(self, output: list[str]) -> list[str]:
        return parsers.parse_gpg_fingerprints(_text(output))


class OllamaModels(FactBase):
    """The models the running Ollama holds, each with its size in bytes (`ollama list`'s SIZE; None for a
    cloud model's `-`); {} when it is not running."""

    default = dict

    def command(self, bind: str) -> str:
        return (
            f"if [ -x /usr/local/bin/ollama ]; then OLLAMA_HOST={shlex.quote(bind)} "
            "/usr/local/bin/ollama list 2>/dev/null || true; fi"
        )

    def process(self, output: list[str]) -> dict[str, int | None]:
        text = _text(output)
        sizes = parsers.parse_ollama_sizes(text)
        return {name: sizes.get(name) for name in parsers.parse_ollama_list(text)}


class SshClientAddress(FactBase):
    """The address this SSH session comes from, as the VM sees it (read without sudo: it keeps the env)."""

    def command(self) -> str:
        return 'echo "${SSH_CLIENT%% *}"'

    def process(self, output: list[str]) -> str | None:
        return output[0].strip() if output and output[0].strip() else None


class UfwStatus(FactBase):
    requires_command = "ufw"

    def command(self) -> str:
        return "ufw status verbose"

    def process(self, output: list[str]) -> parsers.UfwStatus:
        return parsers.parse_ufw_status(_text(output))


class AptHolds(FactBase):
    """Packages on hold (`apt-mark showhold`): apt upgrade leaves them as they are."""

    default = set

    def command(self) -> str:
        return "apt-mark showhold"

    def process(self, output: list[str]) -> set[str]:
        return parsers.parse_showhold(_text(output))


class AptPolicy(FactBase):
    """Installed and candidate versions of PACKAGES, read after refreshing the apt lists.

    Only the deliberate driver upgrade asks for it: `apt-get update` first, so even `--dry` sees the
    newest driver of the branch (a refresh that fails, e.g. offline, leaves the lists as they were)."""

    default = dict

    def command(self, packages: tuple[str, ...]) -> str:
        names = " ".join(shlex.quote(p) for p in packages)
        return (f"apt-get -q {APT_LOCK_WAIT} update >/dev/null 2>&1 || true; "
                f"apt-cache policy {names} 2>/dev/null")

    def process(self, output: list[str]) -> dict[str, parsers.AptVersions]:
        return parsers.parse_apt_policy(_text(output))


class SwapFileState(FactBase):
    """A swap file's size, signature and whether it is in use; size None when it does not exist."""

    @staticmethod
    def default() -> parsers.SwapFile:
        return parsers.SwapFile(None, is_swap=False, active=False)

    def command(self, path: str) -> str:
        quoted = shlex.quote(path)
        return (
            f'if [ -f {quoted} ]; then echo "size=$(stat -c %s {quoted})"; '
            f'echo "type=$(blkid -o value -s TYPE {quoted} 2>/dev/null)"; fi; '
            f"awk -v f={quoted} 'NR > 1 && $1 == f {{print \"active=yes\"}}' /proc/swaps"
        )

    def process(self, output: list[str]) -> parsers.SwapFile:
        return parsers.parse_swap_file(_text(output))


class ModelsFetched(FactBase):
    """Per model of PLAN (the fetcher's JSON): "complete" or "missing", judged offline by the VM's
    fetcher; {} before the fetcher is there."""

    default = dict

    def command(self, fetcher: str, plan: str) -> str:
        quoted = shlex.quote(fetcher)
        return (f"if [ -f {quoted} ]; then printf '%s' {shlex.quote(plan)} | "
                f"python3 {quoted} check - 2>/dev/null || true; fi")

    def process(self, output: list[str]) -> dict[str, str]:
        return parsers.parse_fetch_check(_text(output))


class FileDigests(FactBase):
    """sha1, mode, owner and group of each of PATHS that is a file, in one command (pyinfra's files.put
    reads three facts a file to find it unchanged)."""

    default = dict

    def command(self, paths: tuple[str, ...]) -> str:
        names = " ".join(shlex.quote(p) for p in paths)
        return (f'for f in {names}; do [ -f "$f" ] && printf \'%s %s %s\\n\' "$f" '
                '"$(sha1sum < "$f" | cut -c1-40)" "$(stat -c \'%a %U %G\' "$f")"; done; true')

    def process(self, output: list[str]) -> dict[str, parsers.FileDigest]:
        return parsers.parse_file_digests(_text(output))
