"""One lab switch: fake-switches' model with the lab's IOS/EOS extensions, served over SSH on loopback.

    python -m lab.netdevices.fakeswitch.switch --config .lab/data/<host>/device.json

device.json is written by lab/netdevices/fakeswitch/service.py: hostname, model, address, port, username,
password file, data dir, and the topology.yml device it is (its own name, or the lab device a benchmark's
switch copies: hardware, ports, seed, cabling). In the data dir the switch keeps, like a real one:

* ssh_host_rsa_key: its SSH host key (made once by the service);
* startup-config: the saved configuration. At boot the running configuration is loaded from it (from the
  seed in lab/netdevices/topology.yml at the very first boot, which is then saved). `write memory` /
  `copy running-config startup-config` replace it; `configure replace nvram:startup-config force` (IOS) or
  `configure replace flash:startup-config` (EOS) load it again. Unsaved changes are lost on restart.
* flash/: the device's flash: file system (`copy running-config flash:<file>`, `configure replace
  flash:<file>`, IOS archive files). Only plain file names (letters, digits, `.`, `_`, `-`); on EOS
  flash:startup-config is the startup-config above, as on a real one.
* faults.json (optional, tests): {"reject": ["<regex>", ...]} refuses matching command lines with the
  vendor's invalid-input error; {"seconds_per_minute": N} shortens the IOS revert timer
  (lab/netdevices/base.py, Faults).

The IOS rollback timer (`configure terminal revert timer N`) lives here, not in a session: it keeps the
running configuration of the moment it was armed and puts it back when it expires (a reactor timer), unless
`configure confirm` came first; a lost session does not stop it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
from pathlib import Path

from fake_switches.switch_configuration import Port

from lab.netdevices import base
from lab.netdevices.fakeswitch import eos, ios

SSH_VERSIONS = {"cisco": b"SSH-2.0-Cisco-1.25", "arista": b"SSH-2.0-OpenSSH_7.1"}
MODELS = base.FAKESWITCH_MODELS
FLASH_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


class Device:
    """The switch's state around fake-switches' model: saved configuration, topology facts, faults."""

    def __init__(self, config: dict) -> None:
        self.name = config["hostname"]
        self.model = config["model"]
        self.vendor = MODELS.get(self.model)
        if self.vendor is None:
            raise SystemExit(f"{self.name}: model {self.model!r} is not one of {', '.join(sorted(MODELS))}")
        topology_name = config.get("topology_device") or self.name  # a bench switch copies a lab device
        self.facts = base.device(topology_name)
        self.data_dir = Path(config["data_dir"])
        self.startup_path = self.data_dir / "startup-config"
        self.ports = base.expand_ports(self.facts["ports"])
        self.neighbors = base.neighbors(topology_name)
        self.linked_ports = base.linked_ports(topology_name)
        self.faults = base.Faults(self.data_dir / "faults.json")
        self.flash_dir = self.data_dir / "flash"
        self.username = config.get("username", "")
        self.booted = time.monotonic()
        self.revert: dict | None = None  # the armed IOS rollback timer: snapshot, minutes, call, armed
        self.archive_count = 0
        password = Path(config["password_file"]).read_text().strip()
        conf = ios.LabSwitchConfiguration("127.0.0.1", name=self.name, privileged_passwords=[password],
                                          ports=[Port(p) for p in self.ports])
        conf.lab = self
        self.core = (ios.LabIosCore if self.vendor == "cisco" else eos.LabEosCore)(conf, self.faults)
        self.conf = conf

    # --- configuration -------------------------------------------------------------------------------
    def seed(self) -> str:
        seed = self.facts.get("seed") or f"hostname {self.name}\nend\n"
        return seed.format(hostname=self.name, **(self.facts.get("seed_vars") or {}))

    def load(self, text: str) -> list[str]:
        ios.blank(self.conf, self.ports)
        return ios.apply(self.core, text)

    def running_config(self) -> str:
        if self.vendor == "cisco":
            return ios.render_running_config(self.conf, self.facts["software"].split("(")[0])
        return eos.render_running_config(self.conf, self.facts)

    def startup_config(self) -> str | None:
        try:
            return self.startup_path.read_text()
        except OSError:
            return None

    def save_startup(self) -> None:
        tmp = self.startup_path.with_suffix(".tmp")
        tmp.write_text(self.running_config())
        os.replace(tmp, self.startup_path)

    def replace_running(self, text: str) -> list[str]:
        return self.load(text)

    def merge(self, text: str) -> list[str]:
        """`copy flash:<file> running-config`: the file's lines on top of the running configuration."""
        return ios.apply(self.core, text)

    # --- flash: ----------------------------------------------------------------------------------------
    def flash_path(self, name: str) -> Path | None:
        """The file behind flash:<name> (None: not a name this flash holds)."""
        name = name[1:] if name.startswith("/") else name
        if not FLASH_NAME.fullmatch(name) or name in (".", ".."):
            return None
        if name == "startup-config" and self.vendor == "arista":
            return self.startup_path
        return self.flash_dir / name

    def read_flash(self, name: str) -> str | None:
        path = self.flash_path(name)
        try:
            return path.read_text() if path else None
        except OSError:
            return None

    def write_flash(self, name: str, text: str) -> int:
        path = self.flash_path(name)
        if path is None:
            raise OSError(f"invalid file name {name!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        return len(text.encode())

    def delete_flash(self, name: str) -> bool:
        path = self.flash_path(name)
        if path is None or path == self.startup_path or not path.is_file():
            return False
        path.unlink()
        return True

    def list_flash(self) -> list[tuple[str, int, float]]:
        """(name, bytes, mtime) of every file on flash:, by name."""
        found = []
        if self.flash_dir.is_dir():
            for path in sorted(self.flash_dir.iterdir()):
                if path.is_file() and FLASH_NAME.fullmatch(path.name):
                    st = path.stat()
                    found.append((path.name, st.st_size, st.st_mtime))
        return found

    # --- IOS rollback confirmed change ------------------------------------------------------------------
    def arm_revert(self, minutes: int) -> bool:
        """Start (True) or restart (False, the first rollback point is kept) the revert timer."""
        from twisted.internet import reactor

        first = self.revert is None
        if first:
            self.revert = {"snapshot": self.running_config()}
        else:
            self._cancel_call()
        self.revert.update(minutes=minutes, armed=time.time(),
                           call=reactor.callLater(minutes * self.faults.seconds_per_minute(), self._revert_expired))
        return first

    def confirm_revert(self) -> bool:
        """`configure confirm`: keep the running configuration; False when no timer was armed."""
        if self.revert is None:
            return False
        self._cancel_call()
        self.revert = None
        logging.info("%s: rollback confirmed change: configuration confirmed", self.name)
        return True

    def revert_now(self) -> list[str] | None:
        """Roll back to the rollback point now; None when no timer was armed."""
        if self.revert is None:
            return None
        self._cancel_call()
        snapshot = self.revert["snapshot"]
        self.revert = None
        return self.load(snapshot)

    def _cancel_call(self) -> None:
        call = self.revert.get("call") if self.revert else None
        if call is not None and call.active():
            call.cancel()

    def _revert_expired(self) -> None:
        if self.revert is None:
            return
        snapshot, self.revert = self.revert["snapshot"], None
        problems = self.load(snapshot)
        logging.warning("%s: rollback confirmed change: timer expired, running configuration rolled back%s",
                        self.name, f" ({'; '.join(problems)})" if problems else "")

    def boot(self) -> None:
        text = self.startup_config()
        first = text is None
        problems = self.load(self.seed() if first else text)
        for problem in problems:
            logging.warning("%s: %s config line refused: %s", self.name, "seed" if first else "startup", problem)
        if first:
            self.save_startup()

    def version_text(self) -> str:
        uptime = time.monotonic() - self.booted
        if self.vendor == "cisco":
            return ios.render_version(self.conf, self.facts, uptime)
        return eos.render_version(self.facts, uptime)


def serve(device: Device, address: str, port: int, username: str, host_key: Path) -> None:
    password = device.conf.privileged_passwords[0].encode()
    base.serve_ssh(device.core, SSH_VERSIONS[device.vendor], address, port, username, password, host_key,
                   f"{device.name} ({device.model}, {device.facts['hardware']})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path)
    args = parser.parse_args()
    config = json.loads(args.config.read_text())
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("fake_switches").setLevel(logging.WARNING)
    logging.getLogger("lab.ios.apply").setLevel(logging.WARNING)
    device = Device(config)
    device.boot()
    serve(device, config["address"], int(config["port"]), config["username"], Path(config["host_key"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
