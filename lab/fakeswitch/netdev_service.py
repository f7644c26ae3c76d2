"""The labctl service base of every simulated network device (lab/fakeswitch, lab/fakenos).

A device is one inventory host (group `network`) with `ansible_host` (loopback), `ansible_port`,
`lab_model` (fake-switches model or FakeNOS platform), `netdev_username` and the generated password
.lab/secrets/netdev.password (mode 0600). Each device runs as its own process with its own pid file, so
labctl starts, stops and resets devices one by one. At every `up` the device's SSH host key (made once in
.lab/data/<host>/) is written to .lab/netdev/known_hosts, so clients can check host keys strictly.

A host that is not itself in lab/fakeswitch/topology.yml (the extra switches of a benchmark) names the
device it copies with `lab_topology_device` (hardware, ports, seed, cabling); its own name is still its
hostname. Unset, a host is looked up by its own name, as every lab device is.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import netdev  # noqa: E402

import common  # noqa: E402


class NetdevService(common.Service):
    kind = "netdev"
    start_timeout = 30.0
    runner: Path  # the script that runs one device
    models: dict[str, str]  # lab_model -> vendor family

    def __init__(self, name: str, hostvars: dict, lab: common.Lab) -> None:
        super().__init__(name, hostvars, lab)
        self.address = str(hostvars.get("ansible_host") or "127.0.0.1")
        common.require_loopback(name, self.address)
        try:
            self.port = int(hostvars["ansible_port"])
        except (KeyError, TypeError, ValueError):
            raise common.LabError(f"{name}: ansible_port: missing or not a number in the inventory") from None
        self.model = str(hostvars.get("lab_model") or "")
        if self.model not in self.models:
            raise common.LabError(f"{name}: lab_model {self.model!r} is not one of {', '.join(sorted(self.models))} "
                                  f"(lab_service {self.kind})")
        self.username = str(hostvars.get("netdev_username") or "jinbao-lab")
        self.device_file = self.data_dir / "device.json"
        self.faults_file = self.data_dir / "faults.json"
        self.topology_device = str(hostvars.get("lab_topology_device") or name)
        try:
            netdev.device(self.topology_device)
        except netdev.NetdevError as exc:
            raise common.LabError(str(exc)) from None

    def publish_host_key(self) -> Path:
        key, public = netdev.host_key(self.data_dir)
        netdev.publish_host_key(self.lab.state_dir, self.address, self.port, public)
        return key

    def start(self) -> str:
        self.publish_host_key()  # also when the device is already up: known_hosts covers every device
        return super().start()

    def device_config(self) -> dict:
        return {"hostname": self.name, "model": self.model, "address": self.address, "port": self.port,
                "username": self.username, "data_dir": str(self.data_dir), "host_key": str(self.publish_host_key()),
                "password_file": str(self.lab.state_dir / "secrets" / "netdev.password"),
                "topology_device": self.topology_device}

    def prepare(self) -> None:
        self.lab.secret("netdev.password")
        tmp = self.device_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.device_config(), indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.device_file)

    def command(self) -> list[str]:
        return [sys.executable, str(self.runner), "--config", str(self.device_file)]

    def health(self) -> tuple[bool, str]:
        """The TCP port answers with an SSH identification banner."""
        return netdev.ssh_banner(self.address, self.port)
