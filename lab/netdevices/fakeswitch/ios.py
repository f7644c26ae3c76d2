"""Cisco IOS for the lab: fake-switches' Cisco model (cisco_generic, cisco_2960_*) with what real IOS has and
automation needs. Subclasses only; site-packages stays as installed.

Added or changed, as on a Catalyst running IOS 15:

* `end` in every configuration mode (interface, vlan, vrf, access-list), and a global command typed in a
  sub-mode leaves that sub-mode (`interface ...` then `ip access-list ...` works as on IOS);
* named ACLs: `ip access-list extended|standard NAME` with `[seq] permit|deny ...`, `remark`, `no <entry>`,
  `no <seq>`, `no ip access-list extended NAME`; IOS normalisation (host/any, wildcard-masked networks,
  well-known port names); `show ip access-lists [NAME]`, `show access-lists`; shown in running-config;
* `ip access-group NAME in|out` on any interface, `ip vrf NAME` with `rd` and `description` (rendered in
  running-config), `lldp run`, `hostname`, `version`;
* `write memory`, `copy running-config startup-config`, `show startup-config` and
  `configure replace nvram:startup-config|flash:<file> [force]` against the device's saved configuration
  and its flash: (both kept in its data dir by lab/netdevices/fakeswitch/switch.py, so they survive a restart as on a
  real switch); `copy running-config flash:<file>` with IOS's filename and overwrite prompts, `dir flash:`,
  `more flash:<file>`, `delete [/force] flash:<file>`, `copy flash:<file> running-config` (a merge);
* the configuration archive (`archive` with `path flash:NAME`, `maximum`, `write-memory`, `time-period`)
  and Rollback Confirmed Change: `configure terminal revert timer N` (needs the archive path), `configure
  confirm`, `configure revert now|timer N`, `show archive [config rollback timer]`; the timer itself is the
  device's (lab/netdevices/fakeswitch/switch.py), one "minute" is faults.json's seconds_per_minute (default 60);
* `ip vrf forwarding` removes the SVI's addresses with IOS's message when the VRF changes; `standby N ip A`
  is kept even outside the interface's subnets (IOS warns); HSRP groups render by group number;
* `show running-config [interface X] [| include|exclude|begin|section RE]`, `show version`,
  `show vlan [brief]`, `show interfaces status`, `show ip interface brief`, `show lldp neighbors`,
  in the layouts the ntc-templates parse;
* invalid input answers `% Invalid input detected at '^' marker.` with the caret under the bad word;
  `enable` wants the enable secret (fake-switches lets an empty one through).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time

from fake_switches.cisco import cisco_core
from fake_switches.cisco.command_processor.config import ConfigCommandProcessor
from fake_switches.cisco.command_processor.config_interface import ConfigInterfaceCommandProcessor, parse_vlan_list
from fake_switches.cisco.command_processor.config_vlan import ConfigVlanCommandProcessor
from fake_switches.cisco.command_processor.config_vrf import ConfigVRFCommandProcessor
from fake_switches.cisco.command_processor.default import DefaultCommandProcessor
from fake_switches.cisco.command_processor.enabled import EnabledCommandProcessor, to_vlan_ranges
from fake_switches.command_processing.base_command_processor import BaseCommandProcessor
from fake_switches.command_processing.piping_processor_base import PipingProcessorBase
from fake_switches.command_processing.shell_session import ShellSession
from fake_switches.switch_configuration import AggregatedPort, Port, SwitchConfiguration, VlanPort, split_port_name
from fake_switches.terminal import LoggingTerminalController
from netaddr import IPAddress

from lab.netdevices import base

NOT_HERE = object()  # a sub-mode's answer for "not a command of this mode": the parent mode tries it
INVALID = base.INVALID_INPUT
INCOMPLETE = "% Incomplete command."
NO_ROLLBACK_PENDING = "%No Rollback Confirmed Change pending"
FLASH_SIZE, FLASH_FREE = 122185728, 98304000  # a 3750-X's 128 MB flash with its IOS image on it


# --- the switch's state ---------------------------------------------------------------------------------
class AccessList:
    def __init__(self, name: str, kind: str) -> None:
        self.name = name
        self.kind = kind  # "extended" | "standard"
        self.entries: list[list] = []  # [seq, action, body]; action permit|deny|remark

    def next_seq(self) -> int:
        return (max((e[0] for e in self.entries), default=0) // 10 + 1) * 10


class Archive:
    """The `archive` section: where IOS keeps the configurations it archives (the rollback points of
    `configure terminal revert timer`). Without a `path`, IOS refuses the revert timer."""

    def __init__(self) -> None:
        self.path: str | None = None  # flash:<name>, `$h` is the hostname
        self.maximum: int | None = None
        self.time_period: int | None = None
        self.write_memory = False

    def lines(self) -> list[str]:
        out = ["archive"]
        if self.path:
            out.append(f" path {self.path}")
        if self.maximum is not None:
            out.append(f" maximum {self.maximum}")
        if self.write_memory:
            out.append(" write-memory")
        if self.time_period is not None:
            out.append(f" time-period {self.time_period}")
        return out


class LabSwitchConfiguration(SwitchConfiguration):
    """fake-switches' configuration plus ACLs and LLDP, with exact interface-number matching
    (the stock lookup takes `vlan 1` for Vlan11 when Vlan11 was made first)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.vrfs = []  # the stock DEFAULT-LAN VRF is not an IOS thing
        self.access_lists: dict[str, AccessList] = {}
        self.archive: Archive | None = None
        self.lldp_run = False
        self.lab = None  # the device runtime (lab/netdevices/fakeswitch/switch.py): saved config, faults, topology

    def get_port_by_partial_name(self, name):
        try:
            partial, number = split_port_name(name.lower().replace(" ", ""))
        except AttributeError:
            return None
        partial = partial.strip()
        for port in self.ports:
            kind, num = split_port_name(port.name.lower())
            if kind.startswith(partial) and num == number.strip():
                return port
        return None


# --- helpers --------------------------------------------------------------------------------------------
def is_ipv4(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(p.isdigit() and 0 <= int(p) <= 255 and len(p) <= 3 for p in parts)


def word(token: str, full: str, minimum: int = 1) -> bool:
    """IOS keyword abbreviation: `token` is an abbreviation of `full`."""
    return len(token) >= minimum and full.startswith(token.lower())


def caret_error(processor, line: str, token_index: int | None) -> None:
    """IOS's invalid-input answer with the caret under the token at token_index (0: the first word)."""
    offset = len(line) - len(line.lstrip())
    if token_index:
        spans = [m.start() for m in re.finditer(r"\S+", line)]
        offset = spans[min(token_index, len(spans) - 1)] if spans else offset
        if token_index >= len(spans):
            offset = len(line.rstrip()) + 1
    processor.write_line(" " * (len(processor.get_prompt() or "") + offset) + "^")
    processor.write_line(INVALID)
    processor.write_line("")


def uptime_text(seconds: float) -> str:
    minutes = int(seconds // 60)
    parts = []
    for size, unit in ((525600, "year"), (10080, "week"), (1440, "day"), (60, "hour"), (1, "minute")):
        n, minutes = divmod(minutes, size)
        if n or (unit == "minute" and not parts):
            parts.append(f"{n} {unit}{'s' if n != 1 else ''}")
    return ", ".join(parts)


# --- ACL entries ----------------------------------------------------------------------------------------
PROTOCOLS = {"ip": None, "tcp": 6, "udp": 17, "icmp": 1, "igmp": 2, "ipinip": 4, "gre": 47, "esp": 50, "ahp": 51,
             "eigrp": 88, "ospf": 89, "nos": 94, "pim": 103, "pcp": 108}
PROTOCOL_BY_NUMBER = {v: k for k, v in PROTOCOLS.items() if v is not None}
TCP_PORTS = {"bgp": 179, "chargen": 19, "cmd": 514, "daytime": 13, "discard": 9, "domain": 53, "echo": 7,
             "exec": 512, "finger": 79, "ftp": 21, "ftp-data": 20, "gopher": 70, "hostname": 101, "ident": 113,
             "irc": 194, "klogin": 543, "kshell": 544, "login": 513, "lpd": 515, "nntp": 119, "pop2": 109,
             "pop3": 110, "smtp": 25, "sunrpc": 111, "tacacs": 49, "talk": 517, "telnet": 23, "time": 37,
             "uucp": 540, "whois": 43, "www": 80}
UDP_PORTS = {"biff": 512, "bootpc": 68, "bootps": 67, "discard": 9, "dnsix": 195, "domain": 53, "echo": 7,
             "isakmp": 500, "mobile-ip": 434, "nameserver": 42, "netbios-dgm": 138, "netbios-ns": 137,
             "netbios-ss": 139, "non500-isakmp": 4500, "ntp": 123, "pim-auto-rp": 496, "rip": 520, "snmp": 161,
             "snmptrap": 162, "sunrpc": 111, "syslog": 514, "tacacs": 49, "talk": 517, "tftp": 69, "time": 37,
             "who": 513, "xdmcp": 177}
ICMP_TYPES = ("administratively-prohibited", "echo", "echo-reply", "host-unreachable", "mask-request",
              "net-unreachable", "packet-too-big", "parameter-problem", "port-unreachable", "redirect",
              "router-advertisement", "router-solicitation", "source-quench", "time-exceeded", "timestamp-reply",
              "timestamp-request", "traceroute", "ttl-exceeded", "unreachable")
TCP_FLAGS = ("ack", "established", "fin", "psh", "rst", "syn", "urg")
DSCP = ("af11", "af12", "af13", "af21", "af22", "af23", "af31", "af32", "af33", "af41", "af42", "af43", "cs1",
        "cs2", "cs3", "cs4", "cs5", "cs6", "cs7", "default", "ef")


class AceError(Exception):
    def __init__(self, index: int | None, incomplete: bool = False) -> None:
        super().__init__(index)
        self.index = index
        self.incomplete = incomplete


def _need(tokens: list[str], i: int) -> str:
    if i >= len(tokens):
        raise AceError(i, incomplete=True)
    return tokens[i]


def _address(tokens: list[str], i: int, standard: bool = False) -> tuple[str, int]:
    t = _need(tokens, i)
    if t == "any":
        return "any", i + 1
    if word(t, "host", 2):
        ip = _need(tokens, i + 1)
        if not is_ipv4(ip):
            raise AceError(i + 1)
        return (ip if standard else f"host {ip}"), i + 2
    if not is_ipv4(t):
        raise AceError(i)
    if standard and (i + 1 >= len(tokens) or not is_ipv4(tokens[i + 1])):
        return t, i + 1
    w = _need(tokens, i + 1)
    if not is_ipv4(w):
        raise AceError(i + 1)
    if w == "0.0.0.0":
        return (t if standard else f"host {t}"), i + 2
    if w == "255.255.255.255":
        return "any", i + 2
    net = int(ipaddress.IPv4Address(t)) & ~int(ipaddress.IPv4Address(w)) & 0xFFFFFFFF
    return f"{ipaddress.IPv4Address(net)} {w}", i + 2


def _port(tokens: list[str], i: int, names: dict[str, int]) -> str:
    t = _need(tokens, i)
    if t.isdigit() and 0 <= int(t) <= 65535:
        by_number = {v: k for k, v in names.items()}
        return by_number.get(int(t), t)
    if t in names:
        return t
    raise AceError(i)


def _ports(tokens: list[str], i: int, proto: str) -> tuple[str | None, int]:
    if proto not in ("tcp", "udp") or i >= len(tokens):
        return None, i
    names = TCP_PORTS if proto == "tcp" else UDP_PORTS
    op = tokens[i]
    if op in ("eq", "neq", "lt", "gt"):
        return f"{op} {_port(tokens, i + 1, names)}", i + 2
    if op == "range":
        return f"range {_port(tokens, i + 1, names)} {_port(tokens, i + 2, names)}", i + 3
    return None, i


def parse_ace(kind: str, tokens: list[str], first: int) -> str:
    """Normalise an ACE body (what follows permit/deny) as IOS shows it; AceError(index) when invalid.

    `first` is the index of the first body token within `tokens`.
    """
    if kind == "standard":
        src, i = _address(tokens, first, standard=True)
        out = [src]
        while i < len(tokens):
            if tokens[i] in ("log",):
                out.append(tokens[i])
                i += 1
            else:
                raise AceError(i)
        return " ".join(out)
    t = _need(tokens, first)
    if t.isdigit() and 0 <= int(t) <= 255:
        proto = PROTOCOL_BY_NUMBER.get(int(t), t)
    elif t in PROTOCOLS:
        proto = t
    else:
        raise AceError(first)
    out = [proto]
    src, i = _address(tokens, first + 1)
    out.append(src)
    sport, i = _ports(tokens, i, proto)
    if sport:
        out.append(sport)
    dst, i = _address(tokens, i)
    out.append(dst)
    dport, i = _ports(tokens, i, proto)
    if dport:
        out.append(dport)
    if proto == "icmp" and i < len(tokens):
        if tokens[i] in ICMP_TYPES:
            out.append(tokens[i])
            i += 1
        elif tokens[i].isdigit() and int(tokens[i]) <= 255:
            out.append(tokens[i])
            i += 1
            if i < len(tokens) and tokens[i].isdigit() and int(tokens[i]) <= 255:
                out.append(tokens[i])
                i += 1
    while i < len(tokens):
        t = tokens[i]
        if proto == "tcp" and t in TCP_FLAGS:
            out.append(t)
            i += 1
        elif t in ("log", "log-input", "fragments"):
            out.append(t)
            i += 1
        elif t in ("dscp", "precedence", "tos", "time-range"):
            value = _need(tokens, i + 1)
            if t == "dscp" and not (value in DSCP or (value.isdigit() and int(value) <= 63)):
                raise AceError(i + 1)
            if t in ("precedence", "tos") and not (value.isdigit() and int(value) <= 15):
                raise AceError(i + 1)
            out += [t, value]
            i += 2
        else:
            raise AceError(i)
    return " ".join(out)


# --- rendering ------------------------------------------------------------------------------------------
def render_interface(port) -> list[str]:
    data = [f"interface {port.name}"]
    if port.description:
        data.append(f" description {port.description}")
    if isinstance(port, VlanPort):
        if port.vrf:
            data.append(f" ip vrf forwarding {port.vrf.name}")
        if port.ips:
            data.append(f" ip address {port.ips[0].ip} {port.ips[0].netmask}")
            data += [f" ip address {ip.ip} {ip.netmask} secondary" for ip in port.ips[1:]]
        else:
            data.append(" no ip address")
        data += [f" ip helper-address {ip}" for ip in port.ip_helpers]
        if port.ip_redirect is False:
            data.append(" no ip redirects")
        if port.ip_proxy_arp is False:
            data.append(" no ip proxy-arp")
        data += _access_groups(port)
        if port.vrrp_version is not None:
            data.append(f" standby version {port.vrrp_version}")
        for vrrp in sorted(port.vrrps, key=lambda v: int(v.group_id) if str(v.group_id).isdigit() else 0):
            g = vrrp.group_id
            if vrrp.ip_addresses is not None:
                if not vrrp.ip_addresses:
                    data.append(f" standby {g} ip")
                for n, ip in enumerate(vrrp.ip_addresses):
                    data.append(f" standby {g} ip {ip}{' secondary' if n else ''}")
            if vrrp.timers_hello is not None and vrrp.timers_hold is not None:
                data.append(f" standby {g} timers {vrrp.timers_hello} {vrrp.timers_hold}")
            if vrrp.priority is not None:
                data.append(f" standby {g} priority {vrrp.priority}")
            if vrrp.preempt is not None:
                delay = f" delay minimum {vrrp.preempt_delay_minimum}" if vrrp.preempt_delay_minimum else ""
                data.append(f" standby {g} preempt{delay}")
            if vrrp.authentication is not None:
                data.append(f" standby {g} authentication {vrrp.authentication}")
            data += [f" standby {g} track {t} decrement {d}" for t, d in sorted(vrrp.track.items())]
    else:
        if port.trunk_encapsulation_mode is not None:
            data.append(f" switchport trunk encapsulation {port.trunk_encapsulation_mode}")
        if port.trunk_native_vlan is not None:
            data.append(f" switchport trunk native vlan {port.trunk_native_vlan}")
        if port.trunk_vlans is not None and len(port.trunk_vlans) < 4096:
            data.append(f" switchport trunk allowed vlan {to_vlan_ranges(port.trunk_vlans)}")
        if port.access_vlan and port.access_vlan != 1:
            data.append(f" switchport access vlan {port.access_vlan}")
        if port.mode:
            data.append(f" switchport mode {port.mode}")
        data += _access_groups(port)
        data += [f" spanning-tree {line}" for line in port.vendor_specific.get("stp", [])]
        if port.aggregation_membership:
            data.append(f" channel-group {_last_number(port.aggregation_membership)} mode active")
    if port.ntp is False:
        data.append(" ntp disable")
    if port.shutdown:
        data.append(" shutdown")
    return data


def _last_number(text: str) -> int:
    return int(re.findall(r"\d+", text)[-1])


def _access_groups(port) -> list[str]:
    lines = []
    for direction in ("in", "out"):
        name = getattr(port, f"access_group_{direction}", None)
        if name:
            lines.append(f" ip access-group {name} {direction}")
    return lines


def _port_sort_key(port):
    return [int(n) for n in re.findall(r"\d+", port.name)]


def render_running_config(conf: LabSwitchConfiguration, version: str) -> str:
    """The running configuration as IOS prints it after `Current configuration : N bytes`."""
    data = [f"version {version}", "!", f"hostname {conf.name}", "!"]
    for vrf in conf.vrfs:
        data.append(f"ip vrf {vrf.name}")
        if getattr(vrf, "description", None):
            data.append(f" description {vrf.description}")
        if getattr(vrf, "rd", None):
            data.append(f" rd {vrf.rd}")
        data.append("!")
    if getattr(conf, "archive", None):
        data += [*conf.archive.lines(), "!"]
    if getattr(conf, "stp_mode", None):
        data += [f"spanning-tree mode {conf.stp_mode}", "spanning-tree extend system-id", "!"]
    for vlan in sorted(conf.vlans, key=lambda v: v.number):
        if vlan.number == 1 and not vlan.name:
            continue
        data.append(f"vlan {vlan.number}")
        if vlan.name:
            data.append(f" name {vlan.name}")
        data.append("!")
    channels = sorted((p for p in conf.ports if isinstance(p, AggregatedPort)), key=_port_sort_key)
    svis = sorted(conf.get_vlan_ports(), key=lambda p: int(p.vlan_id))
    for port in channels + conf.get_physical_ports() + svis:
        data += [*render_interface(port), "!"]
    if conf.static_routes:
        data += [f"ip route {r.destination} {r.mask} {r.next_hop}" for r in conf.static_routes] + ["!"]
    for acl in conf.access_lists.values():
        data.append(f"ip access-list {acl.kind} {acl.name}")
        for _seq, action, body in acl.entries:
            data.append(f" remark {body}" if action == "remark" else f" {action:<6} {body}")
        data.append("!")
    if conf.lldp_run:
        data += ["lldp run", "!"]
    data.append("end")
    return "\n".join(data) + "\n"


def with_header(body: str) -> str:
    """What `show running-config` prints: the header with the size, then the configuration."""
    return f"Building configuration...\n\nCurrent configuration : {len(body)} bytes\n{body}"


HARDWARE = {
    "WS-C3750X-24T-S": {"family": "C3750E", "image": "C3750E-UNIVERSALK9-M", "cpu": "WS-C3750X-24",
                        "file": "flash:/c3750e-universalk9-mz.152-4.E10/c3750e-universalk9-mz.152-4.E10.bin",
                        "memory": "262144K/8192K", "boot": "C3750X-HBOOT-M", "rom": "15.2(3r)E",
                        "license": "ipservices"},
    "WS-C2960-24TT-L": {"family": "C2960", "image": "C2960-LANBASEK9-M", "cpu": "WS-C2960-24TT-L",
                        "file": "flash:/c2960-lanbasek9-mz.150-2.SE11.bin", "memory": "65536K/8192K",
                        "boot": "C2960-HBOOT-M", "rom": "12.2(44)SE5", "license": "lanbase"},
}


def render_version(conf: LabSwitchConfiguration, facts: dict, uptime: float) -> str:
    hw = HARDWARE.get(facts["hardware"], HARDWARE["WS-C3750X-24T-S"])
    ports = conf.get_physical_ports()
    counts = {kind: sum(1 for p in ports if p.name.startswith(kind))
              for kind in ("FastEthernet", "GigabitEthernet", "TenGigabitEthernet")}
    lines = [
        f"Cisco IOS Software, {hw['family']} Software ({hw['image']}), Version {facts['software']}, "
        "RELEASE SOFTWARE (fc2)",
        "Technical Support: http://www.cisco.com/techsupport",
        "Copyright (c) 1986-2020 by Cisco Systems, Inc.",
        "Compiled Tue 31-Mar-20 22:56 by prod_rel_team",
        "",
        f"ROM: Bootstrap program is {hw['family']} boot loader",
        f"BOOTLDR: {hw['family']} Boot Loader ({hw['boot']}) Version {hw['rom']}, RELEASE SOFTWARE (fc1)",
        "",
        f"{conf.name} uptime is {uptime_text(uptime)}",
        "System returned to ROM by power-on",
        f'System image file is "{hw["file"]}"',
        "Last reload reason: power-on",
        "",
        "",
        "This product contains cryptographic features and is subject to United",
        "States and local country laws governing import, export, transfer and",
        "use. Delivery of Cisco cryptographic products does not imply",
        "third-party authority to import, export, distribute or use encryption.",
        "",
        f"License Level: {hw['license']}",
        "License Type: Permanent",
        f"Next reload license Level: {hw['license']}",
        "",
        f"cisco {hw['cpu']} (PowerPC405) processor (revision A0) with {hw['memory']} bytes of memory.",
        f"Processor board ID {facts['serial']}",
        "Last reset from power-on",
        f"{len(conf.get_vlan_ports())} Virtual Ethernet interfaces",
    ]
    if counts["FastEthernet"]:
        lines.append(f"{counts['FastEthernet']} FastEthernet interfaces")
    lines.append(f"{counts['GigabitEthernet']} Gigabit Ethernet interfaces")
    if counts["TenGigabitEthernet"]:
        lines.append(f"{counts['TenGigabitEthernet']} Ten Gigabit Ethernet interfaces")
    lines += [
        "The password-recovery mechanism is enabled.",
        "",
        "512K bytes of flash-simulated non-volatile configuration memory.",
        f"Base ethernet MAC Address       : {facts['mac'].upper()}",
        "Motherboard assembly number     : 73-12554-08",
        f"Model number                    : {facts['hardware']}",
        f"System serial number            : {facts['serial']}",
        "",
        "",
        "Switch Ports Model                     SW Version            SW Image",
        "------ ----- -----                     ----------            ----------",
        f"*    1 {len(ports):<5} {facts['hardware']:<25} {facts['software']:<21} {hw['image']}",
        "",
        "",
        "Configuration register is 0xF",
        "",
    ]
    return "\n".join(lines)


# --- command processors ---------------------------------------------------------------------------------
class LabMixin:
    """What every lab processor does: a sub-mode can say NOT_HERE, and `end` leaves configuration."""

    config_level = False

    def init(self, *args, **kwargs):
        super().init(*args, **kwargs)
        self.ended = False

    @property
    def lab(self):
        return self.switch_configuration.lab

    def parse_and_execute_command(self, line):
        if line.strip():
            func, args = self.get_command_func(line)
            if not func:
                return False
            if func(*args) is NOT_HERE:
                return False
        return True

    def delegate_to_sub_processor(self, line):
        processed = self.sub_processor.process_command(line)
        if self.sub_processor.is_done:
            ended = getattr(self.sub_processor, "ended", False)
            self.sub_processor = None
            if ended and self.config_level:
                self.is_done = self.ended = True
            else:
                self.show_prompt()
        return processed

    def invalid(self, line_or_args, token_index: int | None = 0) -> None:
        line = line_or_args if isinstance(line_or_args, str) else " ".join(line_or_args)
        caret_error(self, line, token_index)

    def incomplete(self) -> None:
        self.write_line(INCOMPLETE)
        self.write_line("")


class ConfigLeafMixin(LabMixin):
    config_level = True

    def do_end(self, *_):
        self.is_done = self.ended = True

    def do_exit(self, *_):
        self.is_done = True


class LabDefault(LabMixin, DefaultCommandProcessor):
    """User EXEC (`hostname>`)."""

    def do_terminal(self, *_):
        pass

    def do_show(self, *args):
        if args and word(args[0], "version", 2):
            self.write(self.lab.version_text())
        elif args and word(args[0], "privilege", 3):
            self.write_line("Current privilege level is 1")
        else:
            self.invalid(("show", *args), 1)

    def continue_enabling(self, line):
        self.replace_input = False
        if line in self.switch_configuration.privileged_passwords:
            self.move_to(self.enabled_processor)
        else:
            self.write_line("% Access denied")
            self.write_line("")

    def do_exit(self):
        self.is_done = True

    do_logout = do_quit = do_exit

    def process_command(self, line):
        if self.sub_processor is not None:  # privileged EXEC and below answer for themselves
            return self.delegate_to_sub_processor(line)
        return super().process_command(line)

    def delegate_to_sub_processor(self, line):
        return DefaultCommandProcessor.delegate_to_sub_processor(self, line)  # exit there ends the session


class LabPiping(PipingProcessorBase):
    """`| include|exclude|begin|section REGEX`, line by line, as IOS filters."""

    def do_include(self, *args):
        return LineFilter("include", " ".join(args))

    def do_exclude(self, *args):
        return LineFilter("exclude", " ".join(args))

    def do_begin(self, *args):
        return LineFilter("begin", " ".join(args))

    def do_section(self, *args):
        return LineFilter("section", " ".join(args))


class LineFilter:
    def __init__(self, mode: str, pattern: str) -> None:
        self.mode = mode
        try:
            self.regex = re.compile(pattern)
        except re.error:
            self.regex = re.compile(re.escape(pattern))
        self.begun = False
        self.in_section = False
        self.pending = ""

    def keep(self, line: str) -> bool:
        hit = bool(self.regex.search(line))
        if self.mode == "include":
            return hit
        if self.mode == "exclude":
            return not hit
        if self.mode == "begin":
            self.begun = self.begun or hit
            return self.begun
        if line[:1] not in (" ", ""):  # section: a top-level line and its indented children
            self.in_section = hit
        return self.in_section

    def pipe(self, data: str):
        self.pending += data
        *lines, self.pending = self.pending.split("\n")
        kept = [line for line in lines if self.keep(line)]
        return "".join(f"{line}\n" for line in kept) if kept else False


class LabEnabled(LabMixin, EnabledCommandProcessor):
    """Privileged EXEC (`hostname#`)."""

    def process_command(self, line):
        """In configuration mode an EXEC command runs only with `do` (IOS 12.2+), never on its own."""
        if self.sub_processor is None:
            return super().process_command(line)
        words = line.split()
        if words[:1] != ["do"] or len(words) < 2:
            return self.delegate_to_sub_processor(line)
        command = line.split(None, 1)[1]
        if " | " in command:
            command, piping = command.split(" | ", 1)
            if not self.activate_piping(piping):
                return False
        processed = self.parse_and_execute_command(command)
        self.finish_piping()
        if processed:
            self.show_prompt()
        return processed

    def do_terminal(self, *_):
        pass

    def do_exit(self, *_):
        self.is_done = True

    do_logout = do_quit = do_exit

    def do_configure(self, *args):
        full = ("configure", *args)
        if not args or word(args[0], "terminal"):
            rest = args[1:]
            if rest and not word(rest[0], "revert", 3):
                return self.invalid(full, 2)
            if rest and not self._revert_timer(full, rest):
                return None
            self.write_line("Enter configuration commands, one per line.  End with CNTL/Z.")
            self.move_to(self.config_processor)
        elif word(args[0], "replace", 3):
            self._configure_replace(args)
        elif word(args[0], "confirm"):
            if len(args) > 1:
                return self.invalid(full, 2)
            if not self.lab.confirm_revert():
                self.write_line(NO_ROLLBACK_PENDING)
        elif word(args[0], "revert", 3):
            self._configure_revert(full, args[1:])
        else:
            self.invalid(full, 1)
        return None

    # --- rollback confirmed change ---------------------------------------------------------------------
    def _revert_timer(self, full, rest) -> bool:
        """`configure terminal revert timer N`: arm (or re-arm) the rollback timer; False when refused."""
        if len(rest) < 3:
            self.incomplete()
            return False
        if not word(rest[1], "timer"):
            self.invalid(full, 3)
            return False
        if not rest[2].isdigit() or not 1 <= int(rest[2]) <= 120:
            self.invalid(full, 4)
            return False
        if len(rest) > 3:
            self.invalid(full, 5)
            return False
        archive = self.switch_configuration.archive
        if archive is None or not archive.path:
            self.write_line("%Turn config archive on before using Rollback Confirmed Change")
            self.write_line("")
            return False
        minutes = int(rest[2])
        if self.lab.arm_revert(minutes):
            name = self._archive_name(archive)
            self.lab.write_flash(name, self.lab.revert["snapshot"])
            self.write_line(f"Rollback Confirmed Change: Backing up current running config to flash:{name}")
        else:
            self.write_line(f"Rollback Confirmed Change: Timer reset to {minutes} min")
        return True

    def _archive_name(self, archive: Archive) -> str:
        base = archive.path.split(":", 1)[1].lstrip("/")
        base = base.replace("$h", self.switch_configuration.name).replace(
            "$t", time.strftime("%b-%d-%H-%M-%S", time.gmtime())).replace("$", "")
        self.lab.archive_count += 1
        old = self.lab.archive_count - (archive.maximum or 10)
        if old > 0:
            self.lab.delete_flash(f"{base}-{old}")
        return f"{base}-{self.lab.archive_count}"

    def _configure_revert(self, full, rest):
        if not rest:
            return self.incomplete()
        if word(rest[0], "now"):
            if len(rest) > 1:
                return self.invalid(full, 3)
            problems = self.lab.revert_now()
            if problems is None:
                return self.write_line(NO_ROLLBACK_PENDING)
            return self._replace_report(problems)
        if word(rest[0], "timer"):
            if len(rest) < 2:
                return self.incomplete()
            if not rest[1].isdigit() or not 1 <= int(rest[1]) <= 120 or len(rest) > 2:
                return self.invalid(full, 3 if len(rest) == 2 else 4)
            if self.lab.revert is None:
                return self.write_line(NO_ROLLBACK_PENDING)
            self.lab.arm_revert(int(rest[1]))
            return None
        return self.invalid(full, 2)

    # --- configure replace -----------------------------------------------------------------------------
    def _configure_replace(self, args):
        if len(args) < 2:
            return self.incomplete()
        if len(args) > 3 or (len(args) == 3 and not word(args[2], "force")):
            return self.invalid(("configure", *args), 3)
        text, error = self._read_config_file(args[1])
        if error:
            self.write_line(error)
            return None
        if len(args) == 3:
            return self._replace_now(text)
        self.write("This will apply all necessary additions and deletions\nto replace the current running "
                   "configuration with the\ncontents of the specified configuration file, which is\nassumed to "
                   "be a complete configuration, not a partial\nconfiguration. Enter Y if you are sure you want "
                   "to proceed. ? [no]: ")
        self.continue_to(lambda line: self._replace_now(text) if line.strip().lower() in ("y", "yes")
                         else self.write_line(""))
        return None

    def _read_config_file(self, source: str) -> tuple[str | None, str | None]:
        """The text of nvram:startup-config or flash:<file>, or IOS's error for it."""
        if source in ("nvram:startup-config", "startup-config", "nvram:/startup-config"):
            text = self.lab.startup_config()
            return text, None if text is not None else "%Error opening nvram:startup-config (No such file or directory)"
        if source.startswith("flash:"):
            name = source[len("flash:"):]
            if self.lab.flash_path(name) is None:
                return None, f"%Error opening {source} (Invalid argument)"
            text = self.lab.read_flash(name)
            return text, None if text is not None else f"%Error opening {source} (File not found)"
        return None, f"%Error opening {source} (No such file or directory)"

    def _replace_now(self, text: str):
        self._replace_report(self.lab.replace_running(text))

    def _replace_report(self, problems: list[str]):
        self.write_line("Total number of passes: 1")
        for problem in problems:
            self.write_line(problem)
        self.write_line("Rollback Done")
        self.write_line("")

    def do_write(self, *args):
        if args and not word(args[0], "memory"):
            return self.invalid(("write", *args), 1)
        self.write_line("Building configuration...")
        self.lab.save_startup()
        self.write_line("[OK]")
        return None

    # --- copy, dir, more, delete -----------------------------------------------------------------------
    def do_copy(self, *args):
        if len(args) != 2:
            return self.incomplete() if len(args) < 2 else self.invalid(("copy", *args), 3)
        source, destination = args
        running = word(source, "running-config", 3) or source in ("system:running-config", "system:/running-config")
        if running and destination.split(":")[-1].lstrip("/").startswith("start"):
            self.write("Destination filename [startup-config]? ")
            self.continue_to(self._confirm_copy)
            return None
        if running and destination.startswith("flash:"):
            name = destination[len("flash:"):].lstrip("/")
            self.write(f"Destination filename [{name or 'running-config'}]? ")
            self.continue_to(lambda line: self._copy_to_flash(line.strip() or name or "running-config"))
            return None
        if source.startswith("flash:") and (word(destination, "running-config", 3)
                                            or destination in ("system:running-config", "system:/running-config")):
            text, error = self._read_config_file(source)
            if error:
                return self.write_line(error)
            self.write("Destination filename [running-config]? ")
            self.continue_to(lambda _line: self._merge(text))
            return None
        return super().do_copy(*args)

    def _confirm_copy(self, _line):
        self.write_line("Building configuration...")
        self.lab.save_startup()
        self.write_line("[OK]")

    def _copy_to_flash(self, name: str):
        name = name[len("flash:"):] if name.startswith("flash:") else name
        if self.lab.flash_path(name) is None:
            return self.write_line(f"%Error opening flash:{name} (Invalid argument)")
        if self.lab.read_flash(name) is not None:
            self.write_line("%Warning:There is a file already existing with this name ")
            self.write("Do you want to over write? [confirm]")
            self.continue_to(lambda line: self._write_flash(name) if line.strip().lower() in ("", "y", "yes")
                             else self.write_line(""))
            return None
        return self._write_flash(name)

    def _write_flash(self, name: str):
        self._copied(self.lab.write_flash(name, self.lab.running_config()))

    def _copied(self, size: int):
        seconds = 0.1 + size / 25000
        self.write_line(f"{size} bytes copied in {seconds:.3f} secs ({int(size / seconds)} bytes/sec)")

    def _merge(self, text: str):
        for problem in self.lab.merge(text):
            self.write_line(problem)
        self._copied(len(text.encode()))

    def do_dir(self, *args):
        if args and args[0] not in ("flash:", "flash:/"):
            return self.write_line(f"%Error opening {args[0]} (No such file or directory)")
        files = self.lab.list_flash()
        self.write_line("Directory of flash:/")
        self.write_line("")
        for n, (name, size, mtime) in enumerate(files, start=2):
            stamp = time.strftime("%b %d %Y %H:%M:%S +00:00", time.gmtime(mtime))
            self.write_line(f"{n:>5}  -rwx  {size:>10}  {stamp}  {name}")
        if files:
            self.write_line("")
        used = sum(size for _name, size, _mtime in files)
        self.write_line(f"{FLASH_SIZE} bytes total ({FLASH_FREE - used} bytes free)")

    def do_more(self, *args):
        if len(args) != 1:
            return self.incomplete() if not args else self.invalid(("more", *args), 2)
        if not args[0].startswith("flash:"):
            return self.write_line(f"%Error opening {args[0]} (No such file or directory)")
        text = self.lab.read_flash(args[0][len("flash:"):])
        if text is None:
            return self.write_line(f"%Error opening {args[0]} (No such file or directory)")
        return self.write(text)

    def do_delete(self, *args):
        force = bool(args) and args[0].lower() == "/force"
        args = args[1:] if force else args
        if len(args) != 1:
            return self.incomplete() if not args else self.invalid(("delete", *args), 2)
        if not args[0].startswith("flash:"):
            return self.write_line(f"%Error deleting {args[0]} (No such file or directory)")
        name = args[0][len("flash:"):].lstrip("/")
        if force:
            return self._delete(name)
        self.write(f"Delete filename [{name}]? ")
        self.continue_to(lambda line: self._delete_confirm(line.strip() or name))
        return None

    def _delete_confirm(self, name: str):
        self.write(f"Delete flash:/{name}? [confirm]")
        self.continue_to(lambda line: self._delete(name) if line.strip().lower() in ("", "y", "yes")
                         else self.write_line(""))

    def _delete(self, name: str):
        if not self.lab.delete_flash(name):
            self.write_line(f"%Error deleting flash:/{name} (No such file or directory)")

    def _show_archive(self, args):
        conf = self.switch_configuration
        if args and word(args[0], "config") and len(args) > 2 and word(args[1], "rollback") and \
                word(args[2], "timer"):
            revert = self.lab.revert
            if revert is None:
                return self.write_line(NO_ROLLBACK_PENDING)
            armed = time.strftime("%H:%M:%S UTC %a %b %d %Y", time.gmtime(revert["armed"]))
            self.write_line(f"Time configured(or reset): {armed}")
            self.write_line("Timer type: Confirmed Commit")
            self.write_line(f"Timer value: {revert['minutes']} min")
            return self.write_line(f"User: {self.lab.username}")
        if args:
            return self.invalid(("show", "archive", *args), 2)
        if conf.archive is None or not conf.archive.path:
            return self.write_line("Archive feature not enabled")
        base = conf.archive.path
        count = self.lab.archive_count
        maximum = conf.archive.maximum or 10
        self.write_line(f"The maximum archive configurations allowed is {maximum}.")
        self.write_line(f"The next archive file will be named {base}-{count + 1}")
        self.write_line(" Archive #  Name")
        for n in range(max(1, count - maximum + 1), count + 1):
            self.write_line(f"   {n:<8} {base}-{n}{' <- Most Recent' if n == count else ''}")
        return None

    def show_run(self):
        self.write(with_header(self.lab.running_config()))

    def do_show(self, *args):
        if not args:
            self.write_line('% Type "show ?" for a list of subcommands')
            return self.write_line("")
        a = [x.lower() for x in args]
        full = ("show", *args)
        if word(a[0], "running-config", 3):
            if len(a) == 1:
                return self.show_run()
            if word(a[1], "interface"):
                port = self.switch_configuration.get_port_by_partial_name("".join(args[2:])) if len(a) > 2 else None
                if not port:
                    return self.invalid(full, 3 if len(a) > 2 else 2)
                body = "!\n" + "\n".join(render_interface(port)) + "\nend\n"
                return self.write(f"Building configuration...\n\nCurrent configuration : {len(body)} bytes\n{body}")
            return super().do_show(*args)
        if word(a[0], "startup-config", 3):
            body = self.lab.startup_config()
            if body is None:
                return self.write_line("startup-config is not present")
            return self.write(f"Using {len(body)} out of 524288 bytes\n{body}")
        if word(a[0], "version", 2):
            return self.write(self.lab.version_text())
        if word(a[0], "vlan", 2):
            return self._show_vlan(brief=len(a) > 1 and word(a[1], "brief"))
        if word(a[0], "interfaces", 3) and len(a) > 1 and word(a[-1], "status", 2):
            return self._show_interfaces_status()
        if word(a[0], "ip") and len(a) > 1 and word(a[1], "access-lists", 3):
            return self._show_access_lists(args[2] if len(a) > 2 else None)
        if word(a[0], "access-lists", 3):
            return self._show_access_lists(args[1] if len(a) > 1 else None)
        if word(a[0], "ip") and len(a) > 2 and word(a[1], "interface") and word(a[2], "brief"):
            return self._show_ip_interface_brief()
        if word(a[0], "lldp", 2) and len(a) > 1 and word(a[1], "neighbors"):
            return self._show_lldp_neighbors()
        if word(a[0], "archive", 3):
            return self._show_archive(args[1:])
        if a[0] in ("flash:", "flash:/"):
            return self.do_dir("flash:")
        if word(a[0], "privilege", 3):
            return self.write_line("Current privilege level is 15")
        if word(a[0], "clock", 2):
            return self.write_line(time.strftime("*%H:%M:%S.000 UTC %a %b %d %Y", time.gmtime()))
        if (word(a[0], "ip") and len(a) > 1 and (word(a[1], "interface") or word(a[1], "route"))) or \
                word(a[0], "etherchannel"):
            return super().do_show(*args)
        return self.invalid(full, 1)

    def _show_vlan(self, brief: bool):
        conf = self.switch_configuration
        self.write_line("")
        self.write_line("VLAN Name                             Status    Ports")
        self.write_line("---- -------------------------------- --------- -------------------------------")
        for vlan in sorted(conf.vlans, key=lambda v: v.number):
            ports = [base.short_port(p.name) for p in conf.get_physical_ports()
                     if p.mode != "trunk" and not p.aggregation_membership
                     and (p.access_vlan or 1) == vlan.number]
            name = vlan.name or ("default" if vlan.number == 1 else f"VLAN{vlan.number:04d}")
            groups = _wrap(ports, 31)
            self.write_line(f"{vlan.number:<4} {name:<32} {'active':<9} {groups[0] if groups else ''}".rstrip())
            for more in groups[1:]:
                self.write_line(f"{'':48}{more}")
        for number, name in ((1002, "fddi-default"), (1003, "token-ring-default"), (1004, "fddinet-default"),
                             (1005, "trnet-default")):
            self.write_line(f"{number:<4} {name:<32} act/unsup")
        if not brief:
            self.write_line("")
            self.write_line("VLAN Type  SAID       MTU   Parent RingNo BridgeNo Stp  BrdgMode Trans1 Trans2")
            self.write_line("---- ----- ---------- ----- ------ ------ -------- ---- -------- ------ ------")
            for vlan in sorted(conf.vlans, key=lambda v: v.number):
                self.write_line(f"{vlan.number:<4} enet  {100000 + vlan.number:<10} 1500  -      -      -        "
                                "-    -        0      0")
        self.write_line("")

    def _show_interfaces_status(self):
        linked = self.lab.linked_ports
        self.write_line("")
        self.write_line("Port      Name               Status       Vlan       Duplex  Speed Type")
        for port in self.switch_configuration.get_physical_ports():
            if port.shutdown:
                status = "disabled"
            elif port.name in linked:
                status = "connected"
            else:
                status = "notconnect"
            if port.aggregation_membership or port.mode == "trunk":
                vlan = "trunk"
            else:
                vlan = str(port.access_vlan or 1)
            ten = port.name.startswith("TenGig")
            fast = port.name.startswith("FastEth")
            up = status == "connected"
            duplex = "a-full" if up else "auto"
            speed = ("a-10G" if ten else "a-100" if fast else "a-1000") if up else "auto"
            kind = "SFP-10GBase-SR" if ten else "10/100BaseTX" if fast else "10/100/1000BaseTX"
            name = (port.description or "")[:18]
            self.write_line(f"{base.short_port(port.name):<9} {name:<18} {status:<12} {vlan:<10} "
                            f"{duplex:>6} {speed:>6} {kind}")
        self.write_line("")

    def _show_ip_interface_brief(self):
        conf = self.switch_configuration
        self.write_line("Interface              IP-Address      OK? Method Status                Protocol")
        svis = sorted(conf.get_vlan_ports(), key=lambda p: int(p.vlan_id))
        for port in svis + conf.get_physical_ports():
            ip = str(port.ips[0].ip) if isinstance(port, VlanPort) and port.ips else "unassigned"
            method = "NVRAM" if ip != "unassigned" else "unset"
            if port.shutdown:
                status, proto = "administratively down", "down"
            elif isinstance(port, VlanPort) or port.name in self.lab.linked_ports:
                status, proto = "up", "up"
            else:
                status, proto = "down", "down"
            self.write_line(f"{port.name:<22} {ip:<15} YES {method:<6} {status:<21} {proto}")

    def _show_access_lists(self, name: str | None):
        for acl in self.switch_configuration.access_lists.values():
            if name and acl.name != name:
                continue
            self.write_line(f"{acl.kind.capitalize()} IP access list {acl.name}")
            for seq, action, body in acl.entries:
                if action == "remark":
                    continue
                m = re.match(r"(\d+\.\d+\.\d+\.\d+) (\d+\.\d+\.\d+\.\d+)(.*)$", body)
                if acl.kind == "standard" and m:
                    body = f"{m.group(1)}, wildcard bits {m.group(2)}{m.group(3)}"
                self.write_line(f"    {seq} {action} {body}")

    def _show_lldp_neighbors(self):
        if not self.switch_configuration.lldp_run:
            self.write_line("% LLDP is not enabled")
            return self.write_line("")
        found = self.lab.neighbors
        self.write_line("Capability codes:")
        self.write_line("    (R) Router, (B) Bridge, (T) Telephone, (C) DOCSIS Cable Device")
        self.write_line("    (W) WLAN Access Point, (P) Repeater, (S) Station, (O) Other")
        self.write_line("")
        self.write_line("Device ID           Local Intf     Hold-time  Capability      Port ID")
        for n in found:
            caps = "B,R" if n["name"].startswith("core") else "B"
            self.write_line(f"{n['name'][:20]:<20}{base.short_port(n['port']):<15}{120:<11}{caps:<16}"
                            f"{lldp_port_id(n)}")
        self.write_line("")
        self.write_line(f"Total entries displayed: {len(found)}")
        self.write_line("")
        return None


def lldp_port_id(neighbor: dict) -> str:
    """The port ID a neighbor sends: IOS its short name, EOS/VRP/Comware the full interface name."""
    return base.short_port(neighbor["remote_port"]) if neighbor["vendor"] == "cisco" else neighbor["remote_port"]


def _wrap(items: list[str], width: int) -> list[str]:
    lines, line = [], ""
    for item in items:
        candidate = f"{line}, {item}" if line else item
        if len(candidate) > width and line:
            lines.append(line + ",")
            line = item
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines


class LabConfig(ConfigLeafMixin, ConfigCommandProcessor):
    """Global configuration (`hostname(config)#`)."""

    def __init__(self, config_vlan, config_vrf, config_interface, config_acl, config_archive=None):
        super().__init__(config_vlan, config_vrf, config_interface)
        self.config_acl_processor = config_acl
        self.config_archive_processor = config_archive or LabConfigArchive()

    def process_command(self, line):
        """A command the sub-mode does not know runs here, and leaves the sub-mode (as on IOS)."""
        if self.sub_processor is not None:
            processed = self.delegate_to_sub_processor(line)
            if processed or self.sub_processor is None:
                return processed
            func, _ = self.get_command_func(line)
            if func is None:
                return False
            self.sub_processor = None
        return super().process_command(line)

    def do_version(self, *_):
        pass

    def do_hostname(self, *args):
        if len(args) != 1:
            return self.incomplete() if not args else self.invalid(("hostname", *args), 2)
        self.switch_configuration.name = args[0]
        return None

    def do_archive(self, *args):
        if args:
            return self.invalid(("archive", *args), 1)
        conf = self.switch_configuration
        if conf.archive is None:
            conf.archive = Archive()
        self.move_to(self.config_archive_processor, conf.archive)
        return None

    def do_no_archive(self, *args):
        if args:
            return self.invalid(("no", "archive", *args), 2)
        self.switch_configuration.archive = None
        return None

    def do_lldp(self, *args):
        if args and word(args[0], "run"):
            self.switch_configuration.lldp_run = True
        else:
            self.invalid(("lldp", *args), 1)

    def do_no_lldp(self, *args):
        if args and word(args[0], "run"):
            self.switch_configuration.lldp_run = False
        else:
            self.invalid(("no", "lldp", *args), 2)

    def do_spanning_tree(self, *args):
        if len(args) == 2 and args[0] == "mode" and args[1] in ("pvst", "rapid-pvst", "mst"):
            self.switch_configuration.stp_mode = args[1]
        elif args == ("extend", "system-id"):
            pass
        else:
            self.invalid(("spanning-tree", *args), 1)

    def do_vlan(self, *args):
        if not args:
            return self.incomplete()
        if not args[0].isdigit():
            return self.invalid(("vlan", *args), 1)
        return super().do_vlan(*args)

    def do_no_vlan(self, *args):
        if not args or not args[0].isdigit():
            return self.invalid(("no", "vlan", *args), 2) if args else self.incomplete()
        return super().do_no_vlan(*args)

    def do_interface(self, *args):
        if not args:
            return self.incomplete()
        return super().do_interface(*args)

    def show_unknown_interface_error_message(self):
        self.write_line(" " * len(self.get_prompt()) + "^")
        self.write_line(INVALID)
        self.write_line("")

    def do_ip(self, *args):
        if not args:
            return self.incomplete()
        full = ("ip", *args)
        if word(args[0], "access-list", 8):
            if len(args) < 3:
                return self.incomplete()
            if args[1] not in ("extended", "standard"):
                return self.invalid(full, 2)
            if len(args) > 3:
                return self.invalid(full, 4)
            acls = self.switch_configuration.access_lists
            acl = acls.get(args[2])
            if acl is None:
                acl = acls[args[2]] = AccessList(args[2], args[1])
            elif acl.kind != args[1]:
                self.write_line(f"% A named {acl.kind} IP access list with this name already exists")
                return None
            self.move_to(self.config_acl_processor, acl)
            return None
        if word(args[0], "vrf"):
            if len(args) != 2:
                return self.incomplete() if len(args) < 2 else self.invalid(full, 3)
            existing = self.switch_configuration.get_vrf(args[1])
            if existing:
                self.move_to(self.config_vrf_processor, existing)
                return None
            return super().do_ip(*args)
        if word(args[0], "route"):
            if len(args) != 4:
                return self.incomplete() if len(args) < 4 else self.invalid(full, 5)
            for n in (1, 2, 3):
                if not is_ipv4(args[n]):
                    return self.invalid(full, n + 1)
            try:
                ipaddress.IPv4Network(f"{args[1]}/{args[2]}")
            except ValueError:
                self.write_line("%Inconsistent address and mask")
                return None
            return super().do_ip(*args)
        return self.invalid(full, 1)

    def do_no_ip(self, *args):
        if not args:
            return self.incomplete()
        if word(args[0], "access-list", 8):
            if len(args) < 3:
                return self.incomplete()
            acl = self.switch_configuration.access_lists.get(args[2])
            if acl is not None and acl.kind == args[1]:
                del self.switch_configuration.access_lists[args[2]]
            return None
        if word(args[0], "route") and len(args) >= 3:
            try:
                return super().do_no_ip(*args)
            except StopIteration:
                self.write_line("%No matching route to delete")
                return None
        if word(args[0], "vrf") and len(args) == 2:
            return super().do_no_ip(*args)
        return self.invalid(("no", "ip", *args), 2)


class LabConfigInterface(ConfigLeafMixin, ConfigInterfaceCommandProcessor):
    IP_KEYWORDS = ("address", "access-group", "vrf", "redirects", "proxy-arp", "verify", "helper-address")

    def _ip_here(self, args) -> bool:
        if not args:
            return True
        hits = [k for k in self.IP_KEYWORDS if k.startswith(args[0].lower())]
        if not hits:
            return False
        return not (hits == ["vrf"] and (len(args) < 2 or not word(args[1], "forwarding")))

    def do_ip(self, *args):
        if not self._ip_here(args):
            return NOT_HERE
        if not args:
            return self.incomplete()
        full = ("ip", *args)
        if word(args[0], "access-group", 8):
            if len(args) < 3:
                return self.incomplete()
            if args[2] not in ("in", "out") or len(args) > 3:
                return self.invalid(full, 3 if args[2] not in ("in", "out") else 4)
            setattr(self.port, f"access_group_{args[2]}", args[1])
            return None
        if word(args[0], "address"):
            if not isinstance(self.port, VlanPort):
                return self.invalid(full, 1)
            if len(args) < 3:
                return self.incomplete()
            for n in (1, 2):
                if not is_ipv4(args[n]):
                    return self.invalid(full, n + 1)
            if len(args) > 4 or (len(args) == 4 and not word(args[3], "secondary")):
                return self.invalid(full, 4)
        if word(args[0], "vrf"):
            if len(args) < 3:
                return self.incomplete()
            if len(args) > 3:
                return self.invalid(full, 4)
            vrf = self.switch_configuration.get_vrf(args[2])
            if vrf is None:
                self.write_line(f"% VRF {args[2]} not configured.")
                return None
            if self.port.vrf is not vrf:
                self._drop_addresses("enabling", vrf.name)
                self.port.vrf = vrf
            return None
        return super().do_ip(*args)

    def _drop_addresses(self, doing: str, vrf_name: str) -> None:
        """IOS removes an interface's IPv4 addresses when its VRF changes, and says so."""
        if isinstance(self.port, VlanPort) and self.port.ips:
            self.port.ips = []
            self.write_line(f"% Interface {self.port.name} IPv4 disabled and address(es) removed due to {doing} "
                            f"VRF {vrf_name}")

    def do_no_ip(self, *args):
        if not self._ip_here(args):
            return NOT_HERE
        if not args:
            return self.incomplete()
        if word(args[0], "access-group", 8):
            direction = args[-1] if len(args) > 1 else ""
            if direction not in ("in", "out"):
                return self.incomplete()
            setattr(self.port, f"access_group_{direction}", None)
            return None
        if word(args[0], "vrf"):
            if len(args) < 2 or not word(args[1], "forwarding"):
                return self.incomplete() if len(args) < 2 else self.invalid(("no", "ip", *args), 3)
            if self.port.vrf is not None:
                if len(args) > 2 and args[2] != self.port.vrf.name:
                    self.write_line(f"% {args[2]} is not configured on {self.port.name}")
                    return None
                self._drop_addresses("disabling", self.port.vrf.name)
                self.port.vrf = None
            return None
        return super().do_no_ip(*args)

    def do_standby(self, *args):
        """`standby [group] ip ADDRESS [secondary]` is kept even outside the interface's subnets (IOS warns, and
        HSRP stays down until the address fits); the other standby commands are the stock model's."""
        full = ("standby", *args)
        if not args:
            return self.incomplete()
        if len(args) >= 2 and args[0].isdigit() and word(args[1], "ip") and len(args) > 2:
            group, address, rest = args[0], args[2], args[3:]
            if not 0 <= int(group) <= 4095:
                return self.invalid(full, 1)
            if not is_ipv4(address):
                return self.invalid(full, 3)
            if len(rest) > 1 or (rest and not word(rest[0], "secondary")):
                return self.invalid(full, 4)
            ip = IPAddress(address)
            vrrp = self.port.get_vrrp_group(group)
            if vrrp is None:
                vrrp = self.switch_configuration.new("VRRP", group)
                self.port.vrrps.append(vrrp)
            if self.port.ips and not any(ip in net for net in self.port.ips):
                self.write_line("% Warning: address is not within a subnet on this interface")
            addresses = list(vrrp.ip_addresses or [])
            if rest:  # secondary
                vrrp.ip_addresses = addresses if ip in addresses else [*addresses, ip]
            else:
                vrrp.ip_addresses = [ip, *(x for x in addresses[1:] if x != ip)]
            return None
        if args[0].isdigit() and len(args) == 1:
            return self.incomplete()
        return super().do_standby(*args)

    def do_switchport(self, *args):
        if not args:
            return None
        if args[0] == "mode" and (len(args) != 2 or args[1] not in ("access", "trunk", "dynamic", "private-vlan")):
            return self.invalid(("switchport", *args), 2) if len(args) > 1 else self.incomplete()
        if args[:2] == ("access", "vlan") and (len(args) != 3 or not args[2].isdigit()):
            return self.invalid(("switchport", *args), 3) if len(args) > 2 else self.incomplete()
        if args[:3] == ("trunk", "allowed", "vlan") and len(args) > 3:
            try:
                parse_vlan_list(args[-1])
            except ValueError:
                return self.invalid(("switchport", *args), len(args))
        return super().do_switchport(*args)

    def do_description(self, *args):
        if not args:
            return self.incomplete()
        return super().do_description(*args)

    STP = ("portfast", "portfast trunk", "portfast edge", "portfast disable", "bpduguard enable",
           "bpduguard disable", "bpdufilter enable", "guard root", "guard loop", "link-type point-to-point")

    def do_spanning_tree(self, *args):
        line = " ".join(args)
        if isinstance(self.port, VlanPort) or line not in self.STP:
            return self.invalid(("spanning-tree", *args), 1)
        stp = self.port.vendor_specific.setdefault("stp", [])
        kind = args[0]
        stp[:] = [x for x in stp if x.split()[0] != kind] + [line]
        return None

    def do_no_spanning_tree(self, *args):
        stp = self.port.vendor_specific.setdefault("stp", [])
        stp[:] = [x for x in stp if not args or x.split()[0] != args[0]]


class LabConfigVlan(ConfigLeafMixin, ConfigVlanCommandProcessor):
    def do_name(self, *args):
        if not args:
            return self.incomplete()
        return super().do_name(*args)

    def do_no_name(self, *_):
        self.vlan.name = None


class LabConfigVrf(ConfigLeafMixin, ConfigVRFCommandProcessor):
    def do_rd(self, *args):
        if len(args) != 1 or not re.fullmatch(r"(\d+|\d+\.\d+\.\d+\.\d+):\d+", args[0]):
            return self.invalid(("rd", *args), 1) if args else self.incomplete()
        if getattr(self.vrf, "rd", None) and self.vrf.rd != args[0]:
            self.write_line("% Can't change route distinguisher. To change it, please remove it first.")
            return None
        self.vrf.rd = args[0]
        return None

    def do_description(self, *args):
        if not args:
            return self.incomplete()
        self.vrf.description = " ".join(args)
        return None


class LabConfigArchive(ConfigLeafMixin, BaseCommandProcessor):
    """`archive` mode (`hostname(config-archive)#`): `path flash:NAME`, `maximum N`, `write-memory`,
    `time-period N`, and their `no` forms."""

    def init(self, switch_configuration, terminal_controller, logger, piping_processor, *args):
        super().init(switch_configuration, terminal_controller, logger, piping_processor)
        self.archive = args[0]

    def get_prompt(self):
        return f"{self.switch_configuration.name}(config-archive)#"

    def do_path(self, *args):
        if not args:
            return self.incomplete()
        if len(args) > 1:
            return self.invalid(("path", *args), 2)
        m = re.fullmatch(r"flash:/?([A-Za-z0-9$][A-Za-z0-9$._-]*)", args[0])
        if not m:
            return self.invalid(("path", *args), 1)
        self.archive.path = f"flash:{m.group(1)}"
        return None

    def do_no_path(self, *_):
        self.archive.path = None

    def do_maximum(self, *args):
        if len(args) != 1 or not args[0].isdigit() or not 1 <= int(args[0]) <= 14:
            return self.incomplete() if not args else self.invalid(("maximum", *args), 1)
        self.archive.maximum = int(args[0])
        return None

    def do_no_maximum(self, *_):
        self.archive.maximum = None

    def do_write_memory(self, *args):
        if args:
            return self.invalid(("write-memory", *args), 1)
        self.archive.write_memory = True
        return None

    def do_no_write_memory(self, *_):
        self.archive.write_memory = False

    def do_time_period(self, *args):
        if len(args) != 1 or not args[0].isdigit() or not 1 <= int(args[0]) <= 525600:
            return self.incomplete() if not args else self.invalid(("time-period", *args), 1)
        self.archive.time_period = int(args[0])
        return None

    def do_no_time_period(self, *_):
        self.archive.time_period = None


class LabAccessList(ConfigLeafMixin, BaseCommandProcessor):
    """Named ACL mode (`hostname(config-ext-nacl)#`): `[seq] permit|deny ...`, `remark`, `no ...`."""

    def init(self, switch_configuration, terminal_controller, logger, piping_processor, *args):
        super().init(switch_configuration, terminal_controller, logger, piping_processor)
        self.acl = args[0]

    def get_prompt(self):
        mode = "ext" if self.acl.kind == "extended" else "std"
        return f"{self.switch_configuration.name}(config-{mode}-nacl)#"

    def parse_and_execute_command(self, line):
        tokens = line.split()
        if not tokens or tokens[0].startswith("!"):
            return True
        i = 0
        negate = word(tokens[0], "no", 2)
        if negate:
            i = 1
        seq = None
        if i < len(tokens) and tokens[i].isdigit():
            seq = int(tokens[i])
            if not 1 <= seq <= 2147483647:
                self.invalid(line, i)
                return True
            i += 1
        action = None
        if i < len(tokens):
            for candidate, minimum in (("permit", 1), ("deny", 2), ("remark", 3)):
                if word(tokens[i], candidate, minimum):
                    action = candidate
        if action is None:
            if negate and seq is not None and i == len(tokens):
                self.acl.entries = [e for e in self.acl.entries if e[0] != seq]
                return True
            if seq is not None or negate:
                if i >= len(tokens):
                    self.incomplete()
                else:
                    self.invalid(line, i)
                return True
            return super().parse_and_execute_command(line)  # exit, end; else the parent mode
        if action == "remark":
            text = line.split(None, i + 1)[i + 1] if len(tokens) > i + 1 else ""
            if not text:
                self.incomplete()
                return True
            body = text[:100]
        else:
            try:
                body = parse_ace(self.acl.kind, tokens, i + 1)
            except AceError as exc:
                if exc.incomplete:
                    self.incomplete()
                else:
                    self.invalid(line, exc.index)
                return True
        if negate:
            self.acl.entries = [e for e in self.acl.entries if not (e[1] == action and e[2] == body)
                                or (seq is not None and e[0] != seq)]
            return True
        if any(e[1] == action and e[2] == body for e in self.acl.entries):
            return True  # IOS ignores an entry it already has
        if seq is None:
            seq = self.acl.next_seq()
        elif any(e[0] == seq for e in self.acl.entries):
            self.write_line("% Duplicate sequence number")
            return True
        self.acl.entries.append([seq, action, body])
        self.acl.entries.sort(key=lambda e: e[0])
        return True


# --- the switch -----------------------------------------------------------------------------------------
class LabShellSession(base.PausingSession, ShellSession):
    """One SSH session: faults first (a delay pauses this session alone), then the processors; IOS's answer
    to what they do not know."""

    def __init__(self, command_processor, faults: base.Faults) -> None:
        self.faults = faults
        super().__init__(command_processor)

    def active(self):
        proc = self.command_processor
        while proc.sub_processor is not None:
            proc = proc.sub_processor
        return proc

    def handle(self, line):
        active = self.active()
        if line.strip() and not active.continuing_to and self.faults.drops(line):
            logging.getLogger("lab.ios").warning("fault: session dropped at %r", line)
            return False  # the SSH server closes the connection
        if line.strip() and not active.continuing_to and self.faults.rejects(line):
            caret_error(active, line, 0)
            active.show_prompt()
            return True
        try:
            return ShellSession.receive(self, line)
        except Exception:  # a command the stock model mishandles must not drop the SSH session
            logging.getLogger("lab.ios").exception("command %r failed", line)
            active = self.active()
            active.write_line(INVALID)
            active.write_line("")
            active.show_prompt()
            return True

    def handle_unknown_command(self, line):
        caret_error(self.active(), line, 0)


class LabIosCore(cisco_core.CiscoSwitchCore):
    def __init__(self, switch_configuration, faults: base.Faults) -> None:
        super().__init__(switch_configuration)
        self.faults = faults

    def new_command_processor(self):
        return LabEnabled(config=LabConfig(config_vlan=LabConfigVlan(), config_vrf=LabConfigVrf(),
                                           config_interface=LabConfigInterface(), config_acl=LabAccessList(),
                                           config_archive=LabConfigArchive()))

    def new_config_processor(self):
        return self.new_command_processor().config_processor

    def launch(self, protocol, terminal_controller):
        self.last_connection_id += 1
        self.logger = logging.getLogger(f"fake_switches.cisco.{self.switch_configuration.name}."
                                        f"{self.last_connection_id}.{protocol}")
        processor = LabDefault(self.new_command_processor())
        processor.init(self.switch_configuration, LoggingTerminalController(self.logger, terminal_controller),
                       self.logger, LabPiping(self.logger))
        return LabShellSession(processor, self.faults)


def blank(conf: LabSwitchConfiguration, ports: list[str]) -> None:
    """Empty the configuration in place (sessions keep their reference to it): the factory state."""
    conf.vlans = []
    conf.ports = []
    conf.static_routes = []
    conf.vrfs = []
    conf.access_lists = {}
    conf.archive = None
    conf.lldp_run = False
    conf.__dict__.pop("stp_mode", None)
    conf.add_vlan(conf.new("Vlan", 1))
    for name in ports:
        conf.add_port(Port(name))


def apply(core: LabIosCore, text: str) -> list[str]:
    """Replay a configuration text in configuration mode, as IOS loads startup-config; returns errors."""
    from fake_switches.command_processing.piping_processor_base import NotPipingProcessor

    out = _Capture()
    proc = core.new_config_processor()
    proc.init(core.switch_configuration, out, logging.getLogger("lab.ios.apply"), NotPipingProcessor())
    problems = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip() or line.lstrip().startswith("!"):
            continue
        if line.strip() == "end":
            break
        if not raw.startswith(" "):
            proc.sub_processor = None  # a top-level line leaves any sub-mode
        out.text = ""
        if not proc.process_command(line.strip()) or "% " in out.text:
            problems.append(f"{line.strip()}: {out.text.strip().splitlines()[-1] if out.text.strip() else 'rejected'}")
        proc.is_done = False
    return problems


class _Capture:
    def __init__(self) -> None:
        self.text = ""

    def write(self, text):
        self.text += text

    def add_any_key_handler(self, *_):
        pass

    def remove_any_key_handler(self):
        pass
