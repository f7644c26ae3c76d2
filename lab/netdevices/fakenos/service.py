"""labctl service `fakenos`: a Huawei VRP, H3C Comware or Cisco ASA device (FakeNOS 1.2.1 with the lab's
platform YAMLs in lab/netdevices/fakenos/platforms/ and shell in lab/netdevices/fakenos/device.py), one process
per inventory host, SSH on loopback.

Inventory (group `network`): `ansible_port`, `lab_model` (the FakeNOS platform: huawei_vrp, hp_comware,
cisco_asa), `netdev_username`; the login (and ASA enable) password is the generated
.lab/secrets/netdev.password. Hardware, ports, VLANs and cabling come from lab/netdevices/topology.yml.
The answers are canned (FakeNOS is not stateful): configuration commands change nothing.

State in .lab/data/<host>/ (labctl reset forgets it):
  ssh_host_rsa_key   the device's SSH host key, made once (published to .lab/netdev/known_hosts at up)
  platform.yaml      the rendered platform, written at every start
  device.json        written at every start from the inventory
  faults.json        optional, for tests, read on every command while the device runs:
                     {"reject": ["<regex>", ...]} refuses any command line matching a regex (re.search)
                     with the vendor's error ("Error: Unrecognized command found at '^' position." on VRP,
                     " % Unrecognized command ..." on Comware, "ERROR: % Invalid input detected ..." on ASA).

build() installs lab/netdevices/fakenos/requirements.txt into the running venv (a stamp in the
venv makes it instant when done).
"""

from __future__ import annotations

import sys
from pathlib import Path

from lab import common
from lab.netdevices import base

HERE = Path(__file__).resolve().parent


class Service(base.NetdevService):
    kind = "fakenos"
    runner = "lab.netdevices.fakenos.device"
    models = base.FAKENOS_PLATFORMS

    def build(self) -> None:
        try:
            base.install_requirements(
                "fakenos", [(HERE / "requirements.txt", False)], ["fakenos", "paramiko"],
                announce=lambda: print(f"\n{self.name:<20} installing lab/netdevices/fakenos/requirements.txt into "
                                       f"{sys.prefix} ...", end=" ", flush=True))
        except base.NetdevError as exc:
            raise common.LabError(str(exc)) from None
