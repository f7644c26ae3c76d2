"""One lab Huawei VRP8 or H3C Comware 7 switch with state, served over SSH on loopback.

    python -m lab.netdevices.vrpcomware.device --config .lab/data/<host>/device.json

device.json is written by lab/netdevices/vrpcomware/service.py (hostname, model vrp8|comware7, address, port,
username, password file, data dir, topology device). In the data dir the switch keeps, like a real one:

* startup.cfg: the saved configuration (`save` + Y on VRP8, `save force` on Comware). The running
  configuration is loaded from it at boot (from the seed in lab/netdevices/topology.yml at the very first boot,
  which is then saved). Unsaved changes are lost on restart;
* commits.json (VRP8): the rollback points, one per commit (ID from 1000000001, user, time, label and the
  configuration as committed), which survive a restart as on the device's cfcard [cli.py 2][3];
* flash/: files for Comware's `save flash:/F`, `archive configuration` (flash:/<dir>/<prefix>_<n>.cfg) and
  `configuration replace file flash:/F` [cli.py 5][6];
* faults.json (optional, tests; lab/netdevices/base.py Faults): reject/drop/delay patterns, and
  seconds_per_minute, which scales the device's timers: VRP8 `commit trial T` lasts T * spm / 60 seconds,
  Comware `configuration commit delay M` lasts M * spm seconds.

The timers live here, not in a session, so a lost session does not stop them: when a VRP8 trial or a Comware
commit delay runs out unconfirmed, the running configuration goes back to what it was before (a reactor timer).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import re
import sys
import time
from pathlib import Path

from lab.netdevices import base
from lab.netdevices.vrpcomware import cli
from lab.netdevices.vrpcomware import config as cf
from lab.netdevices.vrpcomware.config import COMWARE, VRP

MODELS = cf.MODELS
SSH_VERSIONS = {VRP: b"SSH-2.0-HUAWEI-1.5", COMWARE: b"SSH-2.0-Comware-7.1.070"}
FLASH_NAME = re.compile(r"flash:/?((?:[A-Za-z0-9_-]+/)?[A-Za-z0-9][A-Za-z0-9._-]{0,99})")


def now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S+00:00")


class Device:
    def __init__(self, config: dict) -> None:
        self.name = config["hostname"]
        self.model = config["model"]
        self.vendor = MODELS.get(self.model)
        if self.vendor is None:
            raise SystemExit(f"{self.name}: model {self.model!r} is not one of {', '.join(sorted(MODELS))}")
        topology_name = config.get("topology_device") or self.name
        self.facts = base.device(topology_name)
        self.ports = base.expand_ports(self.facts["ports"])
        self.neighbors = base.neighbors(topology_name)
        self.linked_ports = base.linked_ports(topology_name)
        self.data_dir = Path(config["data_dir"])
        self.startup_path = self.data_dir / "startup.cfg"
        self.commits_path = self.data_dir / "commits.json"
        self.flash_dir = self.data_dir / "flash"
        self.faults = base.Faults(self.data_dir / "faults.json")
        self.username = config.get("username", "")
        self.booted = time.monotonic()
        self.running = cf.Config(self.vendor, self.ports)
        self.updated = now_text()
        self.commits: list[dict] = self._read_commits()
        self.trial: dict | None = None  # VRP8 commit trial: snapshot, call
        self.delay: dict | None = None  # Comware configuration commit delay: snapshot, call
        self.archive_count = 0

    # --- configuration ---------------------------------------------------------------------------------
    def seed(self) -> str:
        seed = self.facts.get("seed") or f"sysname {self.name}\n"
        return seed.format(hostname=self.name, **(self.facts.get("seed_vars") or {}))

    def header(self) -> list[str]:
        if self.vendor == VRP:
            release = self.facts["software"].split("(")[-1].split()[-1].rstrip(")")
            return [f"!Software Version {release}", f"!Last configuration was updated at {self.updated} by "
                                                    f"{self.username}"]
        return ["#", f" version {self.facts['software']}"]

    def running_text(self) -> str:
        return self.running.render(self.header())

    def touched(self) -> None:
        self.updated = now_text()

    def startup_text(self) -> str | None:
        try:
            return self.startup_path.read_text()
        except OSError:
            return None

    def save(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.startup_path.with_suffix(".tmp")
        tmp.write_text(self.running_text())
        os.replace(tmp, self.startup_path)

    def boot(self) -> None:
        text = self.startup_text()
        self.running.load(self.seed() if text is None else text)
        if text is None:
            self.save()

    def replace(self, text: str) -> None:
        """[cli.py 5][6] the running configuration becomes the file's (common lines kept, others undone)."""
        self.running.load(text)
        self.touched()

    # --- VRP8 commits [cli.py 1][2][3] ------------------------------------------------------------------
    def _read_commits(self) -> list[dict]:
        try:
            return json.loads(self.commits_path.read_text())
        except (OSError, ValueError):
            return []

    def _record(self, user: str, label: str | None = None) -> str:
        last = max((int(c["id"]) for c in self.commits), default=1000000000)
        entry = {"id": str(last + 1), "label": label or "-", "user": user, "time": now_text(),
                 "config": self.running.render()}
        self.commits.append(entry)
        self.commits = self.commits[-100:]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.commits_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.commits, indent=1) + "\n")
        os.replace(tmp, self.commits_path)
        return entry["id"]

    def commit(self, candidate: cf.Config, user: str, label: str | None = None, trial: int | None = None) -> str:
        before = self.running.render()
        self.running = candidate.copy()
        self.touched()
        commit_id = self._record(user, label)
        if trial is not None:
            from twisted.internet import reactor

            if self.trial is None:
                self.trial = {"snapshot": before}
            elif self.trial.get("call") and self.trial["call"].active():
                self.trial["call"].cancel()
            seconds = trial * self.faults.seconds_per_minute() / 60.0
            self.trial["call"] = reactor.callLater(seconds, self._trial_expired)
            logging.info("%s: commit trial %s: rolled back in %.1fs unless confirmed", self.name, commit_id, seconds)
        return commit_id

    def confirm_trial(self) -> bool:
        if self.trial is None:
            return False
        if self.trial["call"].active():
            self.trial["call"].cancel()
        self.trial = None
        logging.info("%s: commit trial confirmed", self.name)
        return True

    def abort_trial(self, user: str) -> bool:
        if self.trial is None:
            return False
        if self.trial["call"].active():
            self.trial["call"].cancel()
        snapshot, self.trial = self.trial["snapshot"], None
        self.running.load(snapshot)
        self.touched()
        self._record(user)
        return True

    def _trial_expired(self) -> None:
        if self.trial is None:
            return
        snapshot, self.trial = self.trial["snapshot"], None
        self.running.load(snapshot)
        self.touched()
        self._record("SYSTEM")
        logging.warning("%s: commit trial not confirmed in time: configuration rolled back", self.name)

    def rollback_to(self, commit_id: str, user: str) -> bool:
        entry = next((c for c in self.commits if c["id"] == commit_id), None)
        if entry is None:
            return False
        self.running.load(entry["config"])
        self.touched()
        self._record(user)
        return True

    def commit_list_text(self) -> str:
        rule = "  " + "-" * 77
        out = ["  Max number of records: 100", "  Time zone: UTC", rule,
               f"  {'No.':<5}{'CommitId':<13}{'Label':<22}{'User':<14}Date & Time", rule]
        for n, c in enumerate(reversed(self.commits), 1):
            out.append(f"  {n:<5}{c['id']:<13}{c['label']:<22}{c['user']:<14}{c['time']}")
        return "\n".join(out)

    # --- Comware commit delay [cli.py 4] -----------------------------------------------------------------
    def arm_commit_delay(self, minutes: int) -> None:
        from twisted.internet import reactor

        if self.delay is None:
            self.delay = {"snapshot": self.running.render()}
        elif self.delay["call"].active():
            self.delay["call"].cancel()
        seconds = minutes * self.faults.seconds_per_minute()
        self.delay["call"] = reactor.callLater(seconds, self._delay_expired)

    def confirm_commit_delay(self) -> bool:
        if self.delay is None:
            return False
        if self.delay["call"].active():
            self.delay["call"].cancel()
        self.delay = None
        return True

    def _delay_expired(self) -> None:
        if self.delay is None:
            return
        snapshot, self.delay = self.delay["snapshot"], None
        self.running.load(snapshot)
        self.touched()
        logging.warning("%s: configuration commit delay expired: configuration rolled back", self.name)

    # --- flash and archive [cli.py 5] --------------------------------------------------------------------
    def flash_path(self, name: str) -> Path | None:
        m = FLASH_NAME.fullmatch(name)
        return self.flash_dir / m.group(1) if m and ".." not in name else None

    def read_flash(self, name: str) -> str | None:
        path = self.flash_path(name)
        try:
            return path.read_text() if path else None
        except OSError:
            return None

    def write_flash(self, name: str, text: str) -> int | None:
        path = self.flash_path(name)
        if path is None:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
        return len(text.encode())

    def archive_location(self) -> tuple[str, str] | None:
        line = next((c.text for c in self.running.root.children
                     if c.text.startswith("archive configuration location ")), None)
        if line is None:
            return None
        words = line.split()
        return words[3].rstrip("/"), words[5]

    def archive(self) -> str | None:
        where = self.archive_location()
        if where is None:
            return None
        self.archive_count = self.archive_count % 1000 + 1
        name = f"{where[0]}/{where[1]}_{self.archive_count}.cfg"
        self.write_flash(name, self.running_text())
        return name

    def archive_text(self) -> str:
        where = self.archive_location()
        out = [f"Location: {where[0] if where else ''}", f"Filename prefix: {where[1] if where else ''}",
               "Archive interval in minutes: 0", "Maximum number of archive files: 5", "Saved archive files:",
               " No. TimeStamp                FileName"]
        if where:
            for n in range(1, self.archive_count + 1):
                path = self.flash_path(f"{where[0]}/{where[1]}_{n}.cfg")
                if path and path.exists():
                    stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(path.stat().st_mtime))
                    out.append(f" {n:<3} {stamp}  {where[1]}_{n}.cfg")
        return "\n".join(out)

    # --- displays ----------------------------------------------------------------------------------------
    def acl_text(self, what: list[str]) -> str:
        acls = self.running.acls()
        if what != ["all"]:
            wanted = what[-1]
            acls = [a for a in acls if a.text.split()[-1] == wanted or a.text.split()[2] == wanted]
        out = []
        for acl in sorted(acls, key=lambda a: cf.natural(a.text)):
            words = acl.text.split()
            rules = sorted((c for c in acl.children if c.text.startswith("rule ")),
                           key=lambda c: int(c.text.split()[1]))
            count = f"{len(rules)} rule{'s' if len(rules) != 1 else ''}"
            if self.vendor == VRP:
                ident = words[2]
                out += [f"Advanced ACL {ident}, {count}", "ACL's step is 5"]
                out += [f" {r.text} " for r in rules]
            else:
                ident = f"named {words[3]}" if words[2] == "name" else words[2]
                out += [f"Advanced IPv4 ACL {ident}, {count},", "ACL's step is 5, start ID is 0"]
                out += [f" {r.text}" for r in rules]
            out.append("")
        if not out and what != ["all"]:
            return "Error: The ACL does not exist." if self.vendor == VRP else " % The ACL doesn't exist."
        return "\n".join(out).rstrip("\n")

    def uptime(self) -> str:
        minutes = int((time.monotonic() - self.booted) // 60)
        weeks, rest = divmod(minutes, 10080)
        days, rest = divmod(rest, 1440)
        hours, mins = divmod(rest, 60)
        if self.vendor == VRP:
            return f"{weeks} week, {days} day, {hours} hour, {mins} minute{'s' if mins != 1 else ''}"
        return f"{weeks} weeks, {days} days, {hours} hours, {mins} minutes"

    def version_text(self) -> str:
        f = self.facts
        if self.vendor == VRP:
            return "\n".join([
                "Huawei Versatile Routing Platform Software",
                f"VRP (R) software, Version {f['software']}",
                "Copyright (C) 2012-2020 Huawei Technologies Co., Ltd.",
                f"HUAWEI {f['hardware']} uptime is {self.uptime()}", ""])
        return "\n".join([
            f"H3C Comware Software, Version {f['software']}",
            "Copyright (c) 2004-2019 New H3C Technologies Co., Ltd. All rights reserved.",
            f"H3C {f['hardware']} uptime is {self.uptime()}", "Last reboot reason : Cold reboot", ""])

    def interfaces(self) -> list[tuple[str, cf.Node]]:
        return [(c.text.split(None, 1)[1], c) for c in sorted(self.running.root.children, key=self.running._top_key)
                if c.text.startswith("interface ")]

    def port_up(self, name: str, node: cf.Node) -> bool:
        if node.child("shutdown"):
            return False
        return name in self.linked_ports or any(c.text.startswith(("port default vlan", "port access vlan"))
                                                for c in node.children)

    def interface_brief(self) -> str:
        rows = []
        if self.vendor == VRP:
            rows += ["PHY: Physical", "*down: administratively down", "(l): loopback", "(s): spoofing",
                     "InUti/OutUti: input utility/output utility",
                     "Interface                   PHY   Protocol  InUti OutUti   inErrors  outErrors"]
            for name, node in self.interfaces():
                state = "up" if name.startswith(cli.LOGICAL) or self.port_up(name, node) else "down"
                if node.child("shutdown"):
                    state = "*down"
                rows.append(f"{name:<27} {state:<5} {state.lstrip('*'):<8} {'0%':>6} {'0%':>6} {0:>10} {0:>10}")
            return "\n".join(rows)
        rows += ["Brief information on interfaces in route mode:", "Link: ADM - administratively down; Stby - standby",
                 "Protocol: (s) - spoofing", "Interface            Link Protocol Primary IP      Description"]
        for name, node in self.interfaces():
            if name.startswith(cli.LOGICAL):
                ip = next((c.text.split()[2] for c in node.children if c.text.startswith("ip address ")), "--")
                link = "ADM" if node.child("shutdown") else "UP"
                short = name.replace("Vlan-interface", "Vlan")
                rows.append(f"{short:<20} {link:<4} {'UP' if link == 'UP' else 'DOWN':<8} {ip:<15}")
        rows += ["", "Brief information on interfaces in bridge mode:",
                 "Link: ADM - administratively down; Stby - standby", "Speed: (a) - auto",
                 "Duplex: (a)/A - auto; H - half; F - full", "Type: A - access; T - trunk; H - hybrid",
                 "Interface            Link Speed   Duplex Type PVID Description"]
        for name, node in self.interfaces():
            if name.startswith(cli.LOGICAL):
                continue
            up = self.port_up(name, node)
            trunk = any(c.text == "port link-type trunk" for c in node.children)
            pvid = next((c.text.split()[-1] for c in node.children if c.text.startswith("port access vlan")), "1")
            desc = next((c.text.split(None, 1)[1] for c in node.children if c.text.startswith("description ")), "")
            short = name.replace("Ten-GigabitEthernet", "XGE").replace("GigabitEthernet", "GE")
            speed = ("10G(a)" if short.startswith("XGE") else "1G(a)") if up else "auto"
            rows.append(f"{short:<20} {'UP' if up else 'DOWN':<4} {speed:<7} {'F(a)' if up else 'A':<6} "
                        f"{'T' if trunk else 'A':<4} {pvid:<4} {desc}".rstrip())
        return "\n".join(rows)

    def vlan_text(self, what: list[str]) -> str:
        vlans = sorted(self.running.vlans)
        names = {}
        for c in self.running.root.children:
            if c.text.startswith("vlan ") and c.text.split()[1].isdigit():
                label = next((x.text.split(None, 1)[1] for x in c.children
                              if x.text.startswith(("description ", "name "))), None)
                if label:
                    names[int(c.text.split()[1])] = label
        if self.vendor == VRP:
            out = [f"The total number of vlans is : {len(vlans)}",
                   "U: Up;         D: Down;         TG: Tagged;         UT: Untagged;", "",
                   "VID  Type    Ports",
                   "--------------------------------------------------------------------------------"]
            for v in vlans:
                members = self.vlan_members(v)
                rows = []
                for tag, ports in (("UT:", members[0]), ("TG:", members[1])):
                    items = [f"{p}({'U' if self.port_up(p, n) else 'D'})" for p, n in ports]
                    for k in range(0, len(items), 4):
                        rows.append(("   " if k else tag) + "".join(f"{i:<16}" for i in items[k:k + 4]).rstrip())
                out.append(f"{v:<4} common  {rows[0]}" if rows else f"{v:<4} common")
                out += [f"{'':13}{row}" for row in rows[1:]]
            out += ["", "VID  Status  Property      MAC-LRN Statistics Description",
                    "--------------------------------------------------------------------------------"]
            out += [f"{v:<4} enable  default       enable  disable    {names.get(v, f'VLAN {v:04d}')}"
                    for v in vlans]
            return "\n".join(out)
        return "\n".join([f" Total VLANs: {len(vlans)}", " The VLANs include:",
                          " " + ", ".join(f"{v}(default)" if v == 1 else str(v) for v in vlans)])

    def vlan_members(self, vlan: int) -> tuple[list, list]:
        """The ports of a VLAN (VRP `display vlan`): untagged (access, or no setting: VLAN 1) and tagged (trunk)."""
        untagged, tagged = [], []
        for name, node in self.interfaces():
            if name.startswith(cli.LOGICAL):
                continue
            texts = [c.text for c in node.children]
            access = next((int(t.split()[-1]) for t in texts if t.startswith("port default vlan ")), 1)
            trunk = next((t for t in texts if t.startswith("port trunk allow-pass vlan ")), None)
            if "port link-type trunk" in texts:
                if trunk and vlan in cf.parse_vlan_list(trunk[len("port trunk allow-pass vlan "):]):
                    tagged.append((name, node))
                if vlan == 1 and access == 1:
                    untagged.append((name, node))
            elif access == vlan:
                untagged.append((name, node))
        return untagged, tagged

    def lldp_text(self, layout: str) -> str:
        if layout == "brief":
            out = ["Local Intf       Neighbor Dev             Neighbor Intf             Exptime(s)"]
            out += [f"{n['port']:<16} {n['name']:<24} {n['remote_port']:<25} 105" for n in self.neighbors]
            return "\n".join(out)
        out = ["Chassis ID : * -- -- Nearest nontpmr bridge neighbor",
               "             # -- -- Nearest customer bridge neighbor",
               "             Default -- -- Nearest bridge neighbor",
               "Local Interface Chassis ID      Port ID                    System Name"]
        for n in self.neighbors:
            digits = "".join(ch for ch in base.device(n["name"])["mac"].lower() if ch in "0123456789abcdef")
            chassis = "-".join(digits[i:i + 4] for i in range(0, 12, 4))
            local = n["port"].replace("Ten-GigabitEthernet", "XGE").replace("GigabitEthernet", "GE")
            out.append(f"{local:<15} {chassis:<15} {n['remote_port']:<26} {n['name']}")
        return "\n".join(out)


# --- the SSH side --------------------------------------------------------------------------------------
class Core:
    """fake-switches' switch-core contract (launch one session per SSH shell)."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.sessions = 0

    def get_netconf_protocol(self):
        return None

    def launch(self, protocol, terminal_controller):
        from fake_switches.terminal import LoggingTerminalController

        from lab.netdevices.fakeswitch.ios import LabPiping

        self.sessions += 1
        logger = logging.getLogger(f"lab.vrpcomware.{self.device.name}.{self.sessions}")
        processor = cli.ViewProcessor()
        processor.init(None, LoggingTerminalController(logger, terminal_controller), logger, LabPiping(logger),
                       self.device)
        if self.device.vendor == VRP:
            processor.say("\nInfo: The max number of VTY users is 21, the number of current VTY users online is 1.")
        return cli.Session(processor, self.device.faults)


def serve(device: Device, address: str, port: int, username: str, password: str, host_key: Path) -> None:
    base.serve_ssh(Core(device), SSH_VERSIONS[device.vendor], address, port, username, password.encode(), host_key,
                   f"{device.name} ({device.model}, {device.facts['hardware']})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path)
    args = parser.parse_args()
    config = json.loads(args.config.read_text())
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("fake_switches").setLevel(logging.WARNING)
    device = Device(config)
    device.boot()
    password = Path(config["password_file"]).read_text().strip()
    serve(device, config["address"], int(config["port"]), config["username"], password, Path(config["host_key"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
