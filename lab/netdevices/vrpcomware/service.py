"""labctl services `vrp8` and `comware7`: a Huawei VRP8 (CloudEngine) or H3C Comware 7 switch that keeps its
configuration, one process per inventory host, SSH on loopback (lab/netdevices/vrpcomware/device.py).

Why on fake-switches and not FakeNOS: FakeNOS (lab/netdevices/fakenos) answers canned outputs and keeps no
state; fake-switches' core is a generic, stateful command-processor framework (a processor per session with
views, prompts, Y/N questions and `| include` piping, over its Twisted SSH transport) that the lab already
installs and extends for IOS (lab/netdevices/fakeswitch/ios.py). Its Cisco configuration model does not fit
VRP/Comware (two-stage commit, `undo`, `vlan batch`, Vlanif, numbered ACL rules), so the configuration here is a
small tree of command lines per view (config.py) that renders as `display current-configuration` and is read
back from that text (saved configuration, commit points, checkpoint files). The CLI is cli.py, where each
behaviour cites the vendor documentation page it follows.

Inventory (group `network`): `ansible_port`, `lab_service` vrp8|comware7, `lab_model` the same word,
`netdev_username`; the login password is the generated .lab/secrets/netdev.password. Hardware, ports, cabling
and the seed configuration come from lab/netdevices/topology.yml.

State in .lab/data/<host>/ (labctl reset forgets it, and the next start is the seed again): ssh_host_rsa_key,
startup.cfg (saved configuration), commits.json (VRP8 rollback points), flash/ (Comware files and archives),
device.json (written at every start) and faults.json (tests; lab/netdevices/base.py Faults).

What automation sends, as the simulators answer it:
  VRP8     system-view                 "Enter system view, return user view with return command." [~host]
           (a change)                  prompt [*host] until `commit`; `return` with uncommitted changes asks
                                       "... [Y(yes)/N(no)/C(cancel)]:"
           commit [trial T] [label L]  no output; trial: rolled back after T s (scaled by faults.json
                                       seconds_per_minute/60) unless `commit` confirms it; `abort trial`
           rollback configuration to commit-id X   "Info: The rollback operation succeeded."
           save                        "... Continue? [Y/N]:" - y - "Info: Save the configuration successfully."
  Comware  system-view                 "System View: return to User View with Ctrl+Z." [host], applied at once
           configuration commit delay M / configuration commit   rolled back after M minutes unless committed
           save force                  "Saved the current configuration to mainboard device successfully."
           save flash:/F               "... Continue? [Y/N]:" - y - "Saved the current configuration to flash:/F ..."
           configuration replace file flash:/F   "... save current configuration? [Y/N]:" - n -
                                       "Succeeded in replacing current configuration with the file F."
  both     a bad line                  caret line, then "Error: Unrecognized command found at '^' position."
                                       (VRP8) or " % Unrecognized command found at '^' position." (Comware)

build() installs fake-switches like lab/netdevices/fakeswitch (the same pinned requirement files).
"""

from __future__ import annotations

from typing import ClassVar

from lab.netdevices import base
from lab.netdevices.fakeswitch.service import Service as FakeSwitch
from lab.netdevices.vrpcomware.config import COMWARE, VRP


class Vrp8(base.NetdevService):
    kind = "vrp8"
    runner = "lab.netdevices.vrpcomware.device"
    models: ClassVar[dict[str, str]] = {"vrp8": VRP}

    def build(self) -> None:
        FakeSwitch.build(self)  # fake-switches and Twisted, from lab/netdevices/fakeswitch/requirements*.txt


class Comware7(Vrp8):
    kind = "comware7"
    models: ClassVar[dict[str, str]] = {"comware7": COMWARE}
