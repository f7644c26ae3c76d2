"""A tiny supervisor: run several child processes as one lab service, and end them all together.

    python lab/prometheus/supervise.py SPEC.json

SPEC.json is a list of {"name": ..., "argv": [...]} objects. Every child shares this process's stdout (the
service's log) and process group. When any child exits, or on SIGTERM/SIGINT, the others are terminated
and the supervisor exits (with the child's code), so labctl sees one service that is either whole or down.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: supervise.py SPEC.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[0]).read_text())
    children: dict[str, subprocess.Popen] = {}
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in spec:
        print(f"supervise: starting {child['name']}: {' '.join(child['argv'])}", flush=True)
        children[child["name"]] = subprocess.Popen(child["argv"], stdin=subprocess.DEVNULL)
    code = 0
    while not stopping:
        for name, proc in children.items():
            if proc.poll() is not None:
                print(f"supervise: {name} exited with code {proc.returncode}; stopping the others", flush=True)
                code = proc.returncode or 1
                stopping = True
                break
        time.sleep(0.2)
    for proc in children.values():
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 10
    for proc in children.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
