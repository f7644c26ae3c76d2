"""The lab's feed agent: produces batch data files in each feed's source directory on its schedule and moves
them to the destination, keeping a sha256sum-format manifest on both sides (what a real zone-crossing
transfer agent does).

    python -m lab.feeds.agent --config .lab/data/feed-agent-01/agent.json

agent.json (written by lab/feeds/service.py): {"root": DIR, "control": FILE, "status": FILE, "keep": N,
"feeds": [{name, source_dir, destination_dir, schedule_seconds, checksum_manifest}, ...]}.
The control file ({"stalled": [feed, ...]}) is re-read every tick: a stalled feed still produces files at
its source, but nothing is moved. Every file is written to a temporary name and renamed, so a reader never
sees half a file or half a manifest. Only the newest `keep` batches are kept on each side.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import random
import signal
import time
from pathlib import Path

TICK_SECONDS = 0.5


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(path: Path) -> dict[str, str]:
    """name -> sha256 from a sha256sum-format file (missing file: empty)."""
    entries: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return entries
    for line in text.splitlines():
        digest, _, name = line.partition("  ")
        if len(digest) == 64 and name:
            entries[name] = digest
    return entries


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_manifest(path: Path, entries: dict[str, str]) -> None:
    write_atomic(path, "".join(f"{digest}  {name}\n" for name, digest in sorted(entries.items())).encode())


class Feed:
    def __init__(self, spec: dict, root: Path) -> None:
        self.name = spec["name"]
        self.source = root / spec["source_dir"]
        self.destination = root / spec["destination_dir"]
        self.schedule = float(spec["schedule_seconds"])
        self.manifest = spec.get("checksum_manifest", "MANIFEST.sha256")
        self.next_due = 0.0
        self.seq = 0
        for d in (self.source, self.destination):
            d.mkdir(parents=True, exist_ok=True)

    def produce(self, now: float) -> None:
        """One batch file at the source, added to the source manifest."""
        self.seq += 1
        stamp = datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y%m%dT%H%M%S")
        name = f"{self.name}-{stamp}-{self.seq:06d}.csv"
        rows = ["id,person_id,amount_cents"] + [f"{i},{random.randrange(10**9):09d},{random.randrange(10**6)}"
                                                 for i in range(random.randint(20, 200))]
        data = ("\n".join(rows) + "\n").encode()
        write_atomic(self.source / name, data)
        entries = read_manifest(self.source / self.manifest)
        entries[name] = hashlib.sha256(data).hexdigest()
        write_manifest(self.source / self.manifest, entries)

    def deliver(self) -> int:
        """Copy every source batch the destination lacks; the destination manifest carries the source's hash."""
        source = read_manifest(self.source / self.manifest)
        delivered = read_manifest(self.destination / self.manifest)
        moved = 0
        for name in sorted(set(source) - set(delivered)):
            try:
                data = (self.source / name).read_bytes()
            except FileNotFoundError:
                continue
            write_atomic(self.destination / name, data)
            delivered[name] = source[name]
            moved += 1
        if moved:
            write_manifest(self.destination / self.manifest, delivered)
        return moved

    def prune(self, keep: int) -> None:
        for side in (self.source, self.destination):
            entries = read_manifest(side / self.manifest)
            old = sorted(entries)[:-keep] if len(entries) > keep else []
            if not old:
                continue
            for name in old:
                entries.pop(name)
            write_manifest(side / self.manifest, entries)
            for name in old:
                (side / name).unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    args = parser.parse_args()
    config = json.loads(Path(args.config).read_text())
    root = Path(config["root"])
    feeds = [Feed(spec, root) for spec in config["feeds"]]
    control, status = Path(config["control"]), Path(config["status"])
    keep = int(config.get("keep", 30))
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    print(f"feed agent: {len(feeds)} feeds under {root}", flush=True)
    while not stopping:
        try:
            stalled = set(json.loads(control.read_text()).get("stalled", []))
        except (OSError, ValueError):
            stalled = set()
        now = time.time()
        for feed in feeds:
            try:
                if now >= feed.next_due:
                    feed.produce(now)
                    feed.next_due = now + feed.schedule
                if feed.name not in stalled:
                    moved = feed.deliver()
                    if moved:
                        print(f"{feed.name}: moved {moved} file(s)", flush=True)
                feed.prune(keep)
            except OSError as exc:
                print(f"{feed.name}: {type(exc).__name__}: {exc}", flush=True)
        write_atomic(status, json.dumps({"time": now, "stalled": sorted(stalled)}).encode())
        time.sleep(TICK_SECONDS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
