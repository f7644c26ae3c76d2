"""labctl service `fakeswitch`: a Cisco IOS or Arista EOS switch (fake-switches 1.5.0 with the lab's
extensions in lab/netdevices/fakeswitch/ios.py and eos.py), one process per inventory host, SSH on loopback.

Inventory (group `network`): `ansible_port`, `lab_model` (cisco_generic, cisco_2960_24TT_L,
cisco_2960_48TT_L, arista_generic), `netdev_username`; the login and enable password is the generated
.lab/secrets/netdev.password. Hardware, ports, cabling and the configuration saved at first boot come from
lab/netdevices/topology.yml.

State in .lab/data/<host>/ (labctl reset forgets it, and the next start is the seed again):
  ssh_host_rsa_key   the device's SSH host key, made once (published to .lab/netdev/known_hosts at up)
  startup-config     the saved configuration: loaded at boot, written by `write memory`
  flash/             the device's flash: (plain file names only): `copy running-config flash:<file>`
                     writes a file, `configure replace flash:<file> [force]` loads one, IOS's archive
                     (`archive` / `path flash:archive`, in the IOS seeds) keeps its rollback points here
  device.json        written at every start from the inventory
  faults.json        optional, for tests, read on every command while the device runs:
                     {"reject": ["<regex>", ...]} refuses any command line matching a regex (re.search)
                     with "% Invalid input detected at '^' marker." (IOS) or "% Invalid input" (EOS).
                     {"drop": ["<regex>", ...]} (IOS) closes the SSH session at a matching line, which
                     is not executed: a session killed in the middle of a push.
                     {"seconds_per_minute": N} makes one minute of the IOS revert timer
                     (`configure terminal revert timer M`) last N seconds (default 60); read when the
                     timer is armed. Delete the file (or write {}) to clear the fault.
An unreachable device is a stopped service; a wrong password or host key is the client's doing.

What the automation (plugins/module_utils/seams/netdev.py) sends, as the simulators answer it:
  IOS  copy running-config flash:F     "Destination filename [F]? " - Enter - "N bytes copied in S secs
                                       (R bytes/sec)"; when F exists, after the Enter:
                                       "%Warning:There is a file already existing with this name" and
                                       "Do you want to over write? [confirm]" - Enter confirms
       configure replace flash:F force "Total number of passes: 1" ... "Rollback Done";
                                       a missing file: "%Error opening flash:F (File not found)"
       configure terminal revert timer M  (1-120) "Rollback Confirmed Change: Backing up current running
                                       config to flash:archive-K", then config mode "(config)#"; again while
                                       armed: "Rollback Confirmed Change: Timer reset to M min" (the rollback
                                       point stays the first one); without an archive path:
                                       "%Turn config archive on before using Rollback Confirmed Change" and
                                       no config mode. On expiry the running config silently becomes the
                                       rollback point (logged in .lab/log)
       configure confirm               (exec mode) no output; nothing armed: "%No Rollback Confirmed Change
                                       pending"; also `configure revert now|timer M`,
                                       `show archive [config rollback timer]`, `dir flash:`, `more flash:F`,
                                       `delete [/force] flash:F`, `copy flash:F running-config`
  EOS  copy running-config flash:F     "Copy completed successfully."
       configure replace flash:F       no output; a missing file: "% Error copying flash:F to running-config
                                       (File does not exist)"; `force` is "% Invalid input"

build() installs lab/netdevices/fakeswitch/requirements-nodeps.txt with --no-deps, then requirements.txt, into the
running venv (a stamp in the venv makes it instant when done).
"""

from __future__ import annotations

import sys
from pathlib import Path

from lab import common
from lab.netdevices import base

HERE = Path(__file__).resolve().parent


class Service(base.NetdevService):
    kind = "fakeswitch"
    runner = "lab.netdevices.fakeswitch.switch"
    models = base.FAKESWITCH_MODELS

    def build(self) -> None:
        try:
            base.install_requirements(
                "fakeswitch",
                [(HERE / "requirements-nodeps.txt", True), (HERE / "requirements.txt", False)],
                ["fake_switches", "twisted.conch.ssh", "tftpy", "netaddr", "lxml"],
                announce=lambda: print(f"\n{self.name:<20} installing lab/netdevices/fakeswitch/requirements*.txt into "
                                       f"{sys.prefix} ...", end=" ", flush=True))
        except base.NetdevError as exc:
            raise common.LabError(str(exc)) from None
