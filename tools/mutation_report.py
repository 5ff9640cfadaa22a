"""`make mutate`'s verdict: mutmut's results per module, with the survivors docs/TESTING.md judges
equivalent (each with its reason) left out of the count. A mutant with no test that reaches it counts
as a survivor; a timeout (the tests did not finish) as killed. Exits 1 when a module kills less than
--min percent, or when TESTING.md names a mutant that no longer exists (so the list cannot go stale)."""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTING = ROOT / "docs" / "TESTING.md"
MUTANT = re.compile(r"^\s*(?P<key>\S+): (?P<status>.+)$")


def module_of(key: str) -> str:
    found = re.match(r"(.*)\.x[_ǁ]", key)
    return found.group(1) if found else key.rsplit(".", 1)[0]


def equivalents(text: str) -> set[str]:
    """The mutant names in the first column of TESTING.md's equivalent-survivor table."""
    return set(re.findall(r"^\| `(deploy\.[^`]+__mutmut_\d+)` \|", text, flags=re.M))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--min", type=float, default=90.0, help="least percent killed per module")
    parser.add_argument("--mutmut", default=str(Path(sys.executable).with_name("mutmut")))
    args = parser.parse_args()
    out = subprocess.run([args.mutmut, "results", "--all", "true"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    statuses = {m["key"]: m["status"].strip() for m in map(MUTANT.match, out.splitlines()) if m}
    if not statuses:
        print("no mutmut results: run `mutmut run` first (make mutate does)")
        return 1
    equivalent = equivalents(TESTING.read_text())
    stale = sorted(equivalent - statuses.keys())
    per: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    survivors = []
    for key, status in sorted(statuses.items()):
        # a timeout is a mutant the tests noticed: they did not finish (an endless loop, mostly)
        kind = "killed" if status == "timeout" else status
        kind = "equivalent" if key in equivalent and kind != "killed" else kind
        per[module_of(key)][kind] += 1
        if kind in ("survived", "no tests", "suspicious"):
            survivors.append(f"  {key}: {status}")
    failed = False
    print(f"{'module':34} {'mutants':>7} {'killed':>7} {'equiv.':>7} {'left':>5} {'score':>7}")
    for module, counts in sorted(per.items()):
        total, killed, equiv = sum(counts.values()), counts["killed"], counts["equivalent"]
        score = 100.0 * killed / max(total - equiv, 1)
        failed |= score < args.min
        print(f"{module:34} {total:7} {killed:7} {equiv:7} {total - killed - equiv:5} {score:6.1f}%"
              + ("  < min" if score < args.min else ""))
    if survivors:
        print("survivors (mutmut show NAME shows each):", *survivors, sep="\n")
    if stale:
        print(f"{TESTING.name} names mutants that no longer exist:", *stale, sep="\n  ")
    return 1 if failed or stale else 0


if __name__ == "__main__":
    sys.exit(main())
