"""One lab device on FakeNOS 1.2.1 (Huawei VRP, H3C Comware, Cisco ASA), served over SSH on loopback.

    python -m lab.netdevices.fakenos.device --config .lab/data/<host>/device.json

The NOS is FakeNOS' shipped platform (its canned commands) extended by
lab/netdevices/fakenos/platforms/<platform>.yaml.j2, rendered for this device from lab/netdevices/topology.yml
(hostname, hardware, ports, VLANs, cabling) into <data dir>/platform.yaml. On top of FakeNOS' shell this adds
what the real CLIs do and netmiko relies on:

* VRP/Comware prompts `<host>` and `[host]` (system-view, return, quit), ASA `host>`, `host#`, `host(config)#`;
* ASA `enable` asks for the enable password (the lab password);
* unambiguous abbreviations (`dis cur`, `sh ver`), as every one of these CLIs accepts;
* questions that want a Y/N answer (`save`), and `{uptime}` in outputs, from the process start;
* the vendor's own error, with its caret, for unknown commands and for faults (faults.json, see
  lab/netdevices/base.py Faults: {"reject": ["<regex>", ...]}).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import jinja2
import paramiko
import yaml
from fakenos.core.nos import Nos
from fakenos.plugins.nos import nos_plugins
from fakenos.plugins.servers.ssh_server_paramiko import ParamikoSshServer
from fakenos.plugins.shell.cmd_shell import CMDShell

from lab.netdevices import base

HERE = Path(__file__).resolve().parent

VENDORS = base.FAKENOS_PLATFORMS
SSH_IDS = {"huawei_vrp": "HUAWEI-1.5", "hp_comware": "Comware-7.1.070", "cisco_asa": "Cisco-1.25"}
ERRORS = {"huawei_vrp": "Error: Unrecognized command found at '^' position.",
          "hp_comware": " % Unrecognized command found at '^' position.",
          "cisco_asa": "ERROR: % Invalid input detected at '^' marker."}
EXIT_WORDS = ("quit", "exit", "logout")


def uptime_text(platform: str, seconds: float) -> str:
    minutes = int(seconds // 60)
    weeks, rest = divmod(minutes, 10080)
    days, rest = divmod(rest, 1440)
    hours, mins = divmod(rest, 60)
    if platform == "huawei_vrp":
        return f"{weeks} week, {days} day, {hours} hour, {mins} minute{'s' if mins != 1 else ''}"
    if platform == "hp_comware":
        return f"{weeks} weeks, {days} days, {hours} hours, {mins} minutes"
    parts = [f"{n} {u}" for n, u in ((weeks * 7 + days, "days"), (hours, "hours")) if n]
    return " ".join([*parts, f"{mins} mins", f"{int(seconds) % 60} secs"])


class LabShell(CMDShell):
    """FakeNOS' command shell with the real CLI's manners (see the module docstring)."""

    def __init__(self, *args, platform: str = "", enable_secret: str = "", faults_file: str = "",
                 booted: float = 0.0, **kwargs) -> None:
        self.platform = platform
        self.enable_secret = enable_secret
        self.faults = base.Faults(Path(faults_file))
        self.booted = booted or time.monotonic()
        self.awaiting: tuple[str, str] | None = None  # (what, prompt to restore)
        super().__init__(*args, **kwargs)
        self.user_prompt = self.prompt

    def writeline(self, value) -> None:
        text = str(value).replace("{uptime}", uptime_text(self.platform, time.monotonic() - self.booted))
        super().writeline(text)

    def error(self, line: str, index: int = 0) -> None:
        offset = len(line) - len(line.lstrip())
        self.writeline(" " * (len(self.prompt) + offset) + "^")
        self.writeline(ERRORS[self.platform])

    def resolve(self, line: str) -> str | None:
        """The command key `line` names: exact, else the one command whose words it abbreviates."""
        if line in self.commands:
            return line
        words = line.split()
        hits = [cmd for cmd, data in self.commands.items()
                if not cmd.startswith("_") and self._check_prompt(data.get("prompt"))
                and len(cmd.split()) == len(words)
                and all(full.startswith(typed) for typed, full in zip(words, cmd.split(), strict=True))]
        return hits[0] if len(hits) == 1 else None

    def onecmd(self, line: str) -> bool:
        # cmd.Cmd would run do_help for "help" and "?" and a shell for "!"; these CLIs have their own.
        line = line.strip()
        if not line:
            return self.emptyline()
        return self.default(line)

    def default(self, line: str) -> bool:
        if not self.is_running.is_set():
            return True
        line = line.strip()
        if self.awaiting:
            return self._answer(line)
        if line.startswith("#") or line.startswith("!"):
            return False
        if self.faults.rejects(line):
            self.error(line)
            return False
        if line in EXIT_WORDS and self.prompt == self.user_prompt:
            return True
        if self.platform == "cisco_asa" and line.split()[0] in ("en", "ena", "enab", "enabl", "enable") \
                and self.prompt == self.user_prompt and self.enable_secret:
            self.awaiting = ("enable", self.prompt)
            self.prompt = "Password: "
            return False
        key = self.resolve(line)
        if key is None or not self._check_prompt(self.commands[key].get("prompt")):
            self.error(line)
            return False
        output = self.commands[key].get("output")
        if isinstance(output, str) and output.rstrip().endswith("[Y/N]:") and f"{key} [Y]" in self.commands:
            self.stdout.write(output.rstrip() + " ")
            self.awaiting = (key, self.prompt)
            self.prompt = ""
            return False
        return super().default(key)

    def _answer(self, line: str) -> bool:
        what, prompt = self.awaiting
        self.awaiting = None
        self.prompt = prompt
        if what == "enable":
            if line == self.enable_secret:
                self.prompt = f"{self.base_prompt}#"
            else:
                self.writeline("Invalid password")
            return False
        if line.lower() in ("y", "yes"):
            self.writeline(self.commands[f"{what} [Y]"]["output"])
        return False


class LabSshServer(ParamikoSshServer):
    """FakeNOS' paramiko server; a client that leaves before SSH is set up (a health check, a port scan)
    is one log line, not a thread traceback."""

    def connection_function(self, client, is_running):
        peer = _peer(client)
        try:
            super().connection_function(client, is_running)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            logging.info("connection from %s ended before a session (%s)", peer, type(exc).__name__)


def _peer(client) -> str:
    try:
        host, port = client.getpeername()[:2]
        return f"{host}:{port}"
    except OSError:
        return "?"


def render_platform(config: dict, platform: str) -> dict:
    """lab/netdevices/fakenos/platforms/<platform>.yaml.j2 for this device, kept in <data dir>/platform.yaml."""
    name = config["hostname"]
    facts = base.device(name)
    ports = base.expand_ports(facts.get("ports") or [])
    names = base.topology()["vlans"]
    vlans = [(v, names.get(v, f"VLAN{v:04d}")) for v in facts.get("vlans") or []]
    access, trunks = facts.get("access") or {}, facts.get("trunks") or {}
    linked = base.linked_ports(name)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "platforms")), trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    env.filters.update(vrp=vrp_short, cisco=base.short_port, lab_chassis=chassis_id, lab_sysdescr=sys_description)
    text = env.get_template(f"{platform}.yaml.j2").render(
        hostname=name, username=config["username"], facts=facts, ports=ports, vlans=vlans, access=access,
        trunks=trunks, neighbors=base.neighbors(name), linked=linked,
        vlan_lines=vlan_lines(platform, ports, vlans, access, trunks, linked))
    rendered = Path(config["data_dir"]) / "platform.yaml"
    rendered.write_text(text)
    return yaml.safe_load(text)


def vlan_lines(platform: str, ports: list[str], vlans: list, access: dict, trunks: dict, linked: set) -> list[str]:
    """The per-VLAN port rows of `display vlan` (VRP) or `display vlan brief` (Comware)."""
    lines = []
    free = [p for p in ports if p not in access and p not in trunks]
    for number, label in [(1, "VLAN 0001"), *vlans]:
        untagged = free if number == 1 else [p for p, a in access.items() if a["vlan"] == number]
        tagged = [p for p, t in trunks.items() if number in t["vlans"]]
        if platform == "huawei_vrp":
            rows = []
            for tag, members in (("UT:", untagged), ("TG:", tagged)):
                items = [f"{vrp_short(p)}({'U' if p in linked or p in access else 'D'})" for p in members]
                for n in range(0, len(items), 4):
                    rows.append(("   " if n else tag) + "".join(f"{i:<16}" for i in items[n:n + 4]).rstrip())
            lines += [f"{number:<4} common  {rows[0]}" if rows else f"{number:<4} common"]
            lines += [f"{'':13}{row}" for row in rows[1:]]
        else:
            items = [vrp_short(p) for p in untagged + tagged]
            chunks = [" ".join(items[n:n + 4]) for n in range(0, len(items), 4)] or [""]
            lines.append(f"{number:<9} {label:<32} {chunks[0]}".rstrip())
            lines += [f"{'':43}{chunk}" for chunk in chunks[1:]]
    return lines


def chassis_id(name: str) -> str:
    """A device's LLDP chassis ID (its base MAC) the way VRP and Comware print it: 001e-be11-0a01."""
    digits = "".join(c for c in base.device(name)["mac"].lower() if c in "0123456789abcdef")
    return "-".join(digits[i:i + 4] for i in range(0, 12, 4))


def sys_description(neighbor: dict) -> str:
    sw, hw = neighbor["software"], neighbor["hardware"]
    return {"cisco": f"Cisco IOS Software, {hw} Software, Version {sw}, RELEASE SOFTWARE (fc2)",
            "arista": f"Arista Networks EOS version {sw} running on an Arista Networks {hw}",
            "huawei": f"{hw} Huawei Versatile Routing Platform Software VRP (R) software, Version {sw}",
            "h3c": f"H3C Comware Platform Software, Software Version {sw} H3C {hw}"}.get(neighbor["vendor"], hw)


def vrp_short(port: str) -> str:
    """VRP/Comware short interface names: GigabitEthernet0/0/1 -> GE0/0/1, XGigabitEthernet -> XGE."""
    for long, short in (("XGigabitEthernet", "XGE"), ("Ten-GigabitEthernet", "XGE"), ("GigabitEthernet", "GE"),
                        ("M-GigabitEthernet", "M-GE")):
        if port.startswith(long):
            return short + port[len(long):]
    return port


def build_nos(config: dict, platform: str) -> Nos:
    nos = Nos(name=platform)
    for shipped in nos_plugins[platform]:
        if shipped.endswith((".yaml", ".yml")):
            nos.from_file(shipped)
    if platform in ("huawei_vrp", "hp_comware"):
        for data in nos.commands.values():  # the shipped displays run in any view, as on VRP/Comware
            data.pop("prompt", None)
        nos.commands.pop("enable", None)
    custom = render_platform(config, platform)
    nos.from_dict(custom)
    nos.validate()
    return nos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, type=Path)
    args = parser.parse_args()
    config = json.loads(args.config.read_text())
    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("fakenos").setLevel(logging.WARNING)
    logging.getLogger("paramiko").setLevel(logging.WARNING)
    platform = config["model"]
    if platform not in VENDORS:
        raise SystemExit(f"{config['hostname']}: FakeNOS platform {platform!r} is not one of {', '.join(VENDORS)}")
    nos = build_nos(config, platform)
    password = Path(config["password_file"]).read_text().strip()
    paramiko.Transport._CLIENT_ID = SSH_IDS[platform]  # the SSH banner a real device of this kind sends
    custom = yaml.safe_load((Path(config["data_dir"]) / "platform.yaml").read_text())
    server = LabSshServer(
        shell=LabShell, nos=nos, nos_inventory_config={}, port=int(config["port"]), username=config["username"],
        password=password, ssh_key_file=config["host_key"], ssh_banner=custom.get("lab_ssh_banner", ""),
        address=config["address"], timeout=1, watchdog_interval=1,
        shell_configuration={"base_prompt": config["hostname"], "intro": custom.get("lab_intro", ""),
                             "platform": platform, "enable_secret": password,
                             "faults_file": str(Path(config["data_dir"]) / "faults.json"),
                             "booted": time.monotonic()})
    server.start()
    logging.info("%s (FakeNOS %s) listening on ssh://%s:%s", config["hostname"], platform, config["address"],
                 config["port"])
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
