"""The lab's on-call pager: a webhook receiver that writes down every notification Alertmanager sends.

    python -m lab.oncall.sink --listen 127.0.0.1:19095 --out .lab/data/oncall-sink/alerts.jsonl

Every POST (any path, e.g. /critical/production) appends one JSON line {"received_at", "path", "body"} to
the output file; a body that is not JSON is kept as text. GET /-/healthy answers 200 with the count so far.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_lock = threading.Lock()


def make_handler(out: Path) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "jinbao-oncall-sink/1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", errors="replace")
            try:
                body: object = json.loads(raw)
            except ValueError:
                body = raw
            record = {"received_at": time.time(), "path": self.path, "body": body}
            with _lock, out.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, sort_keys=True) + "\n")
            self.send_response(200)
            self.end_headers()

        def do_GET(self) -> None:
            count = sum(1 for _ in out.open(encoding="utf-8")) if out.exists() else 0
            payload = json.dumps({"notifications": count}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, fmt: str, *args: object) -> None:
            sys.stdout.write(f"oncall-sink: {self.address_string()} {fmt % args}\n")
            sys.stdout.flush()

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:19095", help="address:port to listen on (loopback)")
    parser.add_argument("--out", required=True, type=Path, help="the JSON-lines file notifications go to")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer((host, int(port)), make_handler(args.out))
    print(f"oncall-sink: listening on http://{host}:{port}/, writing {args.out}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
