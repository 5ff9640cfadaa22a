"""Pure judges for `aimachine verify`: command output in, (passed, what was found) out.

Each judge reads the output the real command prints (see tests/fixtures/) and never runs anything.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from aimachine.guest.drivers import DRIVER_PACKAGE
from aimachine.guest.parsers import (
    SmiGpu,
    has_model,
    parse_ping_summary,
    parse_smi_query,
    parse_ss_listening,
)


@dataclass(frozen=True)
class Output:
    """What one command returned."""

    rc: int
    stdout: str = ""
    stderr: str = ""


@dataclass(frozen=True)
class Verdict:
    passed: bool
    found: str
    remedy: str = ""  # when the evidence names its own cause: said instead of the check's remedy


def _first_line(text: str, limit: int = 160) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _failed(out: Output) -> Verdict | None:
    """A command that failed to run is judged by its error, whatever the check."""
    if out.rc != 0:
        why = _first_line(out.stderr) or _first_line(out.stdout) or "no output"
        return Verdict(False, f"exit {out.rc}: {why}")
    return None


def ping(out: Output) -> Verdict:
    """ping exits 1 when nothing answers and still prints its summary: the summary is the finding."""
    summary = parse_ping_summary(out.stdout)
    if summary is None:
        return _failed(out) or Verdict(False, "no ping summary in the output")
    sent, got = summary
    return Verdict(got > 0, f"{got}/{sent} replies")


def ssh_login(out: Output, expected_host: str) -> Verdict:
    if bad := _failed(out):
        return bad
    host = out.stdout.strip()
    return Verdict(host == expected_host, f"logged in; host name {host!r}")


def lspci_has(out: Output, vendor_device: str) -> Verdict:
    if bad := _failed(out):
        return bad
    lines = [ln for ln in out.stdout.splitlines() if f"[{vendor_device}]" in ln.lower()]
    if not lines:
        nvidia = [ln for ln in out.stdout.splitlines() if "[10de:" in ln.lower()]
        seen = "; ".join(ln.strip() for ln in nvidia) or "no NVIDIA device on the PCI bus"
        return Verdict(False, seen)
    return Verdict(True, lines[0].strip())


# nvidia-smi's own words when the userspace is installed but no nvidia kernel module answers (exit 9)
NO_DRIVER = "couldn't communicate with the NVIDIA driver"
NO_DRIVER_REMEDY = ("the nvidia kernel module is not loaded: `sudo modprobe nvidia`, then "
                    "`sudo dmesg | grep -i nvidia`; `dpkg -l 'linux-modules-nvidia-*'` must list the running "
                    "kernel (`uname -r`): if not, aimachine configure installs them (see the nvidia step)")


def _gpu(out: Output) -> SmiGpu | Verdict:
    if NO_DRIVER in out.stdout + out.stderr:
        return Verdict(False, f"exit {out.rc}: {_first_line(out.stdout + out.stderr)}", NO_DRIVER_REMEDY)
    if bad := _failed(out):
        return bad
    gpus = parse_smi_query(out.stdout)
    if not gpus:
        return Verdict(False, f"nvidia-smi printed no GPU: {_first_line(out.stdout) or 'nothing'}")
    return gpus[0]


def gpu_name(out: Output, expected: str) -> Verdict:
    gpu = _gpu(out)
    if isinstance(gpu, Verdict):
        return gpu
    return Verdict(gpu.name == expected, gpu.name)


def gpu_memory(out: Output, min_mib: int) -> Verdict:
    gpu = _gpu(out)
    if isinstance(gpu, Verdict):
        return gpu
    return Verdict(gpu.memory_mib >= min_mib, f"{gpu.memory_mib} MiB ({gpu.memory_mib / 1024:.1f} GiB)")


def driver_version(out: Output) -> Verdict:
    gpu = _gpu(out)
    if isinstance(gpu, Verdict):
        return gpu
    ok = bool(gpu.driver and re.fullmatch(r"\d+\.\d+(\.\d+)?", gpu.driver))
    return Verdict(ok, gpu.driver or "no version")


def open_driver_package(out: Output) -> Verdict:
    """`dpkg-query -W -f='${Package} ${Status}\\n' 'nvidia-driver-*'`: an installed -open package.
    dpkg-query exits 1 when nothing matches; any other failure is the command's, not the driver's."""
    failed = _failed(out)
    if failed and out.rc != 1:
        return failed
    # ${Status} is "want flag state": the configure step holds the driver, so it reads `hold ok installed`
    rows = [ln.split() for ln in out.stdout.splitlines()]
    installed = {row[0]: row[1] == "hold" for row in rows
                 if len(row) == 4 and row[1] in ("install", "hold") and row[2:] == ["ok", "installed"]}
    drivers = [p for p in installed if DRIVER_PACKAGE.match(p)]
    if not drivers:
        return Verdict(False, "no nvidia-driver package installed")
    open_ones = [p for p in drivers if p.endswith("-open")]
    found = ", ".join(p + (" (held)" if installed[p] else "") for p in drivers)
    return Verdict(bool(open_ones) and len(drivers) == len(open_ones), found)


_NVIDIA_LINES = re.compile(r"NVRM|Xid|RmInitAdapter|nvidia.*fail|fail.*nvidia", re.IGNORECASE)
# What a healthy host logs every boot (tests/fixtures/kernel-log.nvidia-580-open.rtx5060ti.healthy.txt):
# the module's banner, Blackwell's note that PCIe LTR is off upstream of the card, and the taint of a
# DKMS-built module that is not signed. Any other NVIDIA line is an error until shown benign.
_BENIGN = re.compile(
    r"NVRM: loading NVIDIA UNIX "
    r"|NVRM: kbifInitLtr_\w+: LTR is disabled in the hierarchy"
    r"|nvidia: module verification failed: signature and/or required key missing - tainting kernel")


# Kernel lines whose cause is known, with what to do (each from an upstream report; tests/fixtures)
_KNOWN_CAUSES = [
    (re.compile(r"RmInitAdapter failed! \(0x22:0x56:"),
     "the card's memory window (BAR) cannot be mapped: turn on Above 4G Decoding and Resizable BAR in the "
     "Proxmox host's BIOS (and CSM off), cold-boot the host, then start the VM "
     "(NVIDIA/open-gpu-kernel-modules#862)"),
]


def _known_cause(line: str) -> str:
    return next((remedy for pattern, remedy in _KNOWN_CAUSES if pattern.search(line)), "")


def dmesg_clean(out: Output) -> Verdict:
    if bad := _failed(out):
        return bad
    lines = [ln.strip() for ln in out.stdout.splitlines() if _NVIDIA_LINES.search(ln)]
    errors = [ln for ln in lines if not _BENIGN.search(ln)]
    if errors:
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return Verdict(False, errors[0] + more, next(filter(None, map(_known_cause, errors)), ""))
    benign = f" ({len(lines)} known benign: module banner, LTR note, unsigned module)" if lines else ""
    return Verdict(True, "no NVRM, Xid, RmInitAdapter or nvidia failure lines" + benign)


def nvcc_version(out: Output, minimum: tuple[int, int] = (12, 8)) -> Verdict:
    if bad := _failed(out):
        return bad
    match = re.search(r"release (\d+)\.(\d+)", out.stdout)
    if not match:
        return Verdict(False, "no 'release X.Y' in nvcc --version")
    found = (int(match.group(1)), int(match.group(2)))
    return Verdict(found >= minimum, f"CUDA {found[0]}.{found[1]}")


def last_line(out: Output, expected: str) -> Verdict:
    """The last line printed is the answer: a library's logger may write INFO lines to stdout before
    it (vLLM does: tests/fixtures/vllm-version.info-log-on-stdout.txt)."""
    if bad := _failed(out):
        return bad
    lines = [ln.strip() for ln in out.stdout.splitlines() if ln.strip()]
    found = lines[-1] if lines else ""
    return Verdict(found == expected, found or "nothing")


def exact_text(out: Output, expected: str) -> Verdict:
    if bad := _failed(out):
        return bad
    found = out.stdout.strip()
    return Verdict(found == expected, found or "nothing")


def http_status(out: Output, expected: int = 200) -> Verdict:
    """`curl -s -o /dev/null -w '%{http_code}'`: 000 means nothing answered (still loading)."""
    code = out.stdout.strip()[-3:]
    if code == "000" or not code.isdigit():
        return Verdict(False, "no answer (connection refused: the model may still be loading)")
    return Verdict(int(code) == expected, f"HTTP {code}")


def served_models(out: Output, expected: list[str]) -> Verdict:
    """`GET /v1/models` of the gateway: every route name the catalog derives is listed."""
    found = [served_model(out, name) for name in expected]
    if not found:
        return Verdict(False, "no route expected")
    missing = [name for name, verdict in zip(expected, found, strict=True) if not verdict.passed]
    if missing and found[0].found.startswith("serves "):
        return Verdict(False, f"missing {', '.join(missing)}; {found[0].found}")
    return found[0] if missing else Verdict(True, found[0].found)


def served_model(out: Output, expected: str) -> Verdict:
    """`GET /v1/models`: clients ask for the catalog's model id, so vLLM must serve it under that name
    (with HF_HUB_OFFLINE=1 and no --served-model-name the id can be the cache's snapshot path)."""
    if bad := _failed(out):
        return bad
    try:
        ids = [str(m.get("id")) for m in json.loads(out.stdout).get("data", [])]
    except (ValueError, AttributeError, TypeError):
        return Verdict(False, f"not a model list: {_first_line(out.stdout) or 'nothing'}")
    if not ids:
        return Verdict(False, "no model served")
    return Verdict(expected in ids, "serves " + ", ".join(ids))


def ollama_version(out: Output, expected: str) -> Verdict:
    if bad := _failed(out):
        return bad
    match = re.search(r"version is (\S+)", out.stdout + out.stderr)
    if not match:
        return Verdict(False, _first_line(out.stdout) or "no version printed")
    return Verdict(match.group(1) == expected, match.group(1))


def ollama_list(out: Output, required: list[str]) -> Verdict:
    if bad := _failed(out):
        return bad
    lines = out.stdout.strip().splitlines()
    if not lines or not lines[0].startswith("NAME"):
        return Verdict(False, _first_line(out.stdout) or "no model table")
    names = [ln.split()[0] for ln in lines[1:] if ln.strip()]
    # as Ollama lists a name (its shortest form: a registry of one's own in full), or with :latest added
    missing = [m for m in required if not has_model(names, m) and f"{m}:latest" not in names]
    if missing:
        return Verdict(False, f"missing: {', '.join(missing)}")
    return Verdict(True, f"{len(names)} model{'s' if len(names) != 1 else ''}: {', '.join(names) or '-'}")


def _slog_value(line: str, key: str) -> str | None:
    """KEY's value in a Go slog text line: `key=word` or `key="quoted words"`."""
    found = re.search(rf'(?:^|\s){key}=(?:"((?:[^"\\]|\\.)*)"|(\S*))', line)
    return None if found is None else found.group(1) if found.group(1) is not None else found.group(2)


def ollama_on_gpu(out: Output) -> Verdict:
    """Ollama's `inference compute` journal line (discover/types.go LogDetails), the last start's:
    library=CUDA is the proof; library=cpu (0.32.15: `id=cpu library=cpu ... description=cpu`, the line
    it logs when it found no GPU) is a fallback."""
    lines = [ln for ln in out.stdout.splitlines() if 'msg="inference compute"' in ln]
    if not lines:
        return Verdict(False, "no 'inference compute' line in Ollama's journal")
    last = lines[-1]
    library = _slog_value(last, "library")
    desc = _slog_value(last, "description")
    same = (desc or "").lower() == (library or "").lower()  # the CPU line: description=cpu
    found = f"library={library or '?'}" + (f" {desc}" if desc and not same else "")
    return Verdict((library or "").lower() == "cuda", found)


def process_on_gpu(out: Output, unit: str) -> Verdict:
    """Lines `PID <cgroup path>` for each GPU compute process: one must belong to `unit`."""
    if bad := _failed(out):
        return bad
    pids = [ln.split()[0] for ln in out.stdout.splitlines() if f"/{unit}" in ln]
    if not pids:
        count = len([ln for ln in out.stdout.splitlines() if ln.strip()])
        return Verdict(False, f"no GPU process of {unit} ({count} GPU processes in all)")
    return Verdict(True, f"{unit} holds GPU memory (pid {', '.join(pids)})")


def unit_users(out: Output) -> Verdict:
    """Lines `UNIT USER` (the user of each service's main process): none may be root."""
    if bad := _failed(out):
        return bad
    pairs = [ln.split() for ln in out.stdout.splitlines() if ln.strip()]
    if not pairs or any(len(p) < 2 for p in pairs):
        listed = "; ".join(" ".join(p) for p in pairs) or "nothing listed"
        return Verdict(False, f"a service has no running main process: {listed}")
    found = ", ".join(f"{unit} as {user}" for unit, user, *_ in pairs)
    return Verdict(all(user != "root" for _, user, *_ in pairs), found)


def _same(address: str, bind: str) -> bool:
    """Is the socket ss shows at ADDRESS the one BIND asks for? A Go server (Ollama) bound to 0.0.0.0
    listens on one dual-stack socket that ss prints as `*:P`
    (tests/fixtures/ss-ltnH.dualstack-wildcard.iproute2-6.1.txt)."""
    return address == bind or (address.startswith("*:") and bind.rsplit(":", 1)[0] in ("0.0.0.0", "[::]"))


def _takes(address: str, bind: str) -> bool:
    """Does a socket at ADDRESS (on BIND's port) take connections to BIND? A wildcard takes every address
    of its family; `*` (dual-stack) takes both."""
    host, wanted = address.rsplit(":", 1)[0], bind.rsplit(":", 1)[0]
    v6 = wanted.startswith("[")
    return host in (wanted, "*") or (host, v6) in (("0.0.0.0", False), ("[::]", True))


def listeners(out: Output, expected: dict[str, bool]) -> Verdict:
    """`ss -ltnH`: each expected IP:port is listened on; a loopback-only one nowhere else.

    `expected` maps "IP:PORT" to whether it may also be open to the network (expose).
    """
    if bad := _failed(out):
        return bad
    local = parse_ss_listening(out.stdout)
    problems, seen = [], []
    for bind, exposed in expected.items():
        port = bind.rsplit(":", 1)[1]
        on_port = [addr for addr in local if addr.rsplit(":", 1)[1] == port]
        if not any(_takes(addr, bind) for addr in on_port):
            problems.append(f"nothing on {bind}")
        wider = [a for a in on_port if not _same(a, bind) and not a.startswith(("127.", "[::1]"))]
        if wider and not exposed:
            problems.append(f"port {port} also open on {', '.join(wider)}")
        seen += on_port
    return Verdict(not problems, "; ".join(problems) or "listening on " + ", ".join(sorted(set(seen))))
