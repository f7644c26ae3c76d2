"""labctl service `feeds`: the feed agent that moves batch data files between zones (lab/feeds/agent.py).

The feeds are the inventory's `data_feeds` (group_vars/all/feeds.yml); their directories are relative to
.lab/data/<host>/ (the agent's data root). Faults for tests and demos:
  stall FEED    the agent stops moving FEED (its source keeps filling up)
  resume FEED   it moves FEED again (the backlog goes across on the next tick)
  corrupt FEED  flip bytes in FEED's newest delivered file: the destination no longer matches its manifest
  heal          resume every feed and re-deliver every destination file that does not match its manifest
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import ClassVar

from lab import common
from lab.feeds import agent

FEED_KEYS = ("name", "source_dir", "destination_dir", "schedule_seconds")


class Service(common.Service):
    kind = "feeds"
    start_timeout = 30.0
    actions: ClassVar[dict[str, str]] = {
        "stall": "FEED: stop moving that feed (its source keeps producing)",
        "resume": "FEED: move that feed again",
        "corrupt": "FEED: flip bytes in the newest delivered file (checksum mismatch at the destination)",
        "heal": "resume every feed and re-deliver every corrupted destination file",
    }

    def __init__(self, name: str, hostvars: dict, lab: common.Lab) -> None:
        super().__init__(name, hostvars, lab)
        feeds = hostvars.get("data_feeds")
        if not isinstance(feeds, list) or not feeds:
            raise common.LabError(f"{name}: data_feeds: missing or empty; declare the feeds in "
                                  "inventory/lab/group_vars/all/feeds.yml")
        for i, feed in enumerate(feeds):
            missing = [k for k in FEED_KEYS if not isinstance(feed, dict) or k not in feed]
            if missing:
                raise common.LabError(f"{name}: data_feeds[{i}]: missing {', '.join(missing)}; see "
                                      "inventory/lab/group_vars/all/feeds.yml")
            for key in ("source_dir", "destination_dir"):
                if Path(feed[key]).is_absolute() or ".." in Path(feed[key]).parts:
                    raise common.LabError(f"{name}: data_feeds[{i}].{key}: {feed[key]!r} must be relative to the "
                                          "agent's data root, without '..'")
        self.feeds = {f["name"]: f for f in feeds}
        self.config_file = self.data_dir / "agent.json"
        self.control_file = self.data_dir / "control.json"
        self.status_file = self.data_dir / "status.json"

    def prepare(self) -> None:
        self.config_file.write_text(json.dumps({
            "root": str(self.data_dir), "control": str(self.control_file), "status": str(self.status_file),
            "keep": 30, "feeds": list(self.feeds.values())}, indent=2))
        if not self.control_file.exists():
            self._write_control({"stalled": []})
        self.status_file.unlink(missing_ok=True)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "lab.feeds.agent", "--config", str(self.config_file)]

    def health(self) -> tuple[bool, str]:
        try:
            status = json.loads(self.status_file.read_text())
        except (OSError, ValueError):
            return False, "the agent has not written its status yet"
        age = time.time() - float(status.get("time", 0))
        if age > 10:
            return False, f"the agent's last tick was {age:.0f}s ago (hung?)"
        stalled = status.get("stalled") or []
        return True, f"{len(self.feeds)} feeds" + (f", stalled: {', '.join(stalled)}" if stalled else "")

    # --- faults ---------------------------------------------------------------------------------------
    def act(self, action: str, args: list[str]) -> str:
        if action == "heal":
            self._write_control({"stalled": []})
            fixed = sum(self._redeliver(feed) for feed in self.feeds.values())
            return f"every feed resumed; {fixed} corrupted file(s) re-delivered"
        if action not in self.actions:
            return super().act(action, args)
        if len(args) != 1 or args[0] not in self.feeds:
            raise common.LabError(f"{self.name}: {action} FEED: name one feed of {', '.join(sorted(self.feeds))}")
        feed = self.feeds[args[0]]
        stalled = set(self._read_control().get("stalled", []))
        if action == "stall":
            self._write_control({"stalled": sorted(stalled | {feed['name']})})
            return f"{feed['name']} stalled: files pile up in {feed['source_dir']}"
        if action == "resume":
            self._write_control({"stalled": sorted(stalled - {feed['name']})})
            return f"{feed['name']} resumed"
        return self._corrupt(feed)

    def _read_control(self) -> dict:
        try:
            return json.loads(self.control_file.read_text())
        except (OSError, ValueError):
            return {}

    def _write_control(self, control: dict) -> None:
        tmp = self.control_file.with_name(".control.json.tmp")
        tmp.write_text(json.dumps(control))
        os.replace(tmp, self.control_file)

    def _manifest(self, feed: dict, side: str) -> dict[str, str]:
        return agent.read_manifest(self.data_dir / feed[side] / feed.get("checksum_manifest", "MANIFEST.sha256"))

    def _corrupt(self, feed: dict) -> str:
        delivered = sorted(self._manifest(feed, "destination_dir"))
        if not delivered:
            raise common.LabError(f"{self.name}: {feed['name']} has delivered nothing yet; wait one schedule "
                                  f"({feed['schedule_seconds']}s) and try again")
        path = self.data_dir / feed["destination_dir"] / delivered[-1]
        st = path.stat()
        data = bytearray(path.read_bytes())
        for i in range(0, min(len(data), 64), 8):
            data[i] ^= 0xFF
        path.write_bytes(bytes(data))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same delivery time: only the content is wrong
        return f"{feed['name']}: flipped bytes in {feed['destination_dir']}/{path.name}"

    def _redeliver(self, feed: dict) -> int:
        fixed = 0
        source_dir = self.data_dir / feed["source_dir"]
        destination_dir = self.data_dir / feed["destination_dir"]
        for name, digest in self._manifest(feed, "destination_dir").items():
            target = destination_dir / name
            try:
                if target.exists() and agent.sha256_file(target) == digest:
                    continue
                agent.write_atomic(target, (source_dir / name).read_bytes())
                fixed += 1
            except FileNotFoundError:
                continue
        return fixed
