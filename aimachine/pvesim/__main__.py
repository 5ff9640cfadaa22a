"""python -m aimachine.pvesim --state STATE.yml --port 0: prints the base URL, serves until killed."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from aimachine.pvesim.server import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m aimachine.pvesim")
    parser.add_argument("--state", required=True, type=Path, help="state YAML (rewritten on changes)")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    args = parser.parse_args()
    server = serve(args.state, args.port)
    print(f"https://127.0.0.1:{server.server_address[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
