"""A tiny supervisor: run several child processes as one lab service, and end them all together.

    python lab/prometheus/supervise.py SPEC.json

SPEC.json is a list of {"name": ..., "argv": [...], "restart_on_change": PATH (optional)} objects. Every child
shares this process's stdout (the service's log) and process group. When any child exits, or on
SIGTERM/SIGINT, the others are terminated and the supervisor exits (with the child's code), so labctl sees
one service that is either whole or down. A child with restart_on_change is restarted (by the supervisor,
not counted as an exit) when that file's content changes: Prometheus and Alertmanager choose HTTP or HTTPS
from their --web.config.file only at start, so a web config that monitoring.yml rewrote needs a restart.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

WATCH_EVERY_SECONDS = 1.0


def _content(path: str | None) -> bytes | None:
    """The file's bytes (None when there is no such file, or no file to watch)."""
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError:
        return None


def _restart(name: str, proc: subprocess.Popen, argv: list[str]) -> subprocess.Popen:
    """End `proc` (SIGTERM, then SIGKILL after 10 s) and start `argv` again in its place."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    print(f"supervise: starting {name} again: {' '.join(argv)}", flush=True)
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL)


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
    watched: dict[str, bytes | None] = {}
    for child in spec:
        watched[child["name"]] = _content(child.get("restart_on_change"))
        print(f"supervise: starting {child['name']}: {' '.join(child['argv'])}", flush=True)
        children[child["name"]] = subprocess.Popen(child["argv"], stdin=subprocess.DEVNULL)
    code = 0
    next_watch = time.monotonic() + WATCH_EVERY_SECONDS
    while not stopping:
        if time.monotonic() >= next_watch:
            next_watch = time.monotonic() + WATCH_EVERY_SECONDS
            for child in spec:
                path = child.get("restart_on_change")
                now = _content(path)
                if path and now != watched[child["name"]] and children[child["name"]].poll() is None:
                    watched[child["name"]] = now
                    print(f"supervise: {path} changed; restarting {child['name']} (pid "
                          f"{children[child['name']].pid}, supervisor {os.getpid()})", flush=True)
                    children[child["name"]] = _restart(child["name"], children[child["name"]], child["argv"])
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
