"""labctl service `oncall`: the on-call sink (lab/oncall/sink.py), where every Alertmanager receiver of the
lab posts its notifications (oncall_port, 19095; one path per receiver, e.g. /critical/production). It
appends each one to .lab/data/<host>/alerts.jsonl, which tests read.

Actions: `clear` empties alerts.jsonl (a test's clean start).
"""

from __future__ import annotations

import json
import sys
import urllib.request
from typing import ClassVar

from lab import common


class Service(common.Service):
    kind = "oncall"
    start_timeout = 20.0
    actions: ClassVar[dict[str, str]] = {"clear": "empty alerts.jsonl (the notifications received so far)"}

    def __init__(self, name: str, hostvars: dict, lab: common.Lab) -> None:
        super().__init__(name, hostvars, lab)
        self.address = str(hostvars.get("oncall_address", "127.0.0.1"))
        common.require_loopback(name, self.address)
        try:
            self.port = int(hostvars["oncall_port"])
        except (KeyError, TypeError, ValueError):
            raise common.LabError(f"{name}: oncall_port: missing or not a number in inventory/lab/host_vars/"
                                  f"{name}.yml; add `oncall_port: 19095`") from None
        self.alerts_file = self.data_dir / "alerts.jsonl"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "lab.oncall.sink", "--listen", f"{self.address}:{self.port}",
                "--out", str(self.alerts_file)]

    def health(self) -> tuple[bool, str]:
        url = f"http://{self.address}:{self.port}/-/healthy"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                count = json.loads(response.read())["notifications"]
                return True, f"{url}: {count} notification(s) in {self.alerts_file}"
        except (OSError, ValueError, KeyError) as exc:
            return False, f"{url}: {exc}"

    def act(self, action: str, args: list[str]) -> str:
        if action == "clear":
            self.alerts_file.write_text("")
            return f"emptied {self.alerts_file}"
        return super().act(action, args)
