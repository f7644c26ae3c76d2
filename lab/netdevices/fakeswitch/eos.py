"""Arista EOS for the lab: fake-switches' arista_generic model with what real EOS has and automation needs.

Added or changed, as on EOS 4.20: `hostname`, `spanning-tree mode`, interface `description`,
`switchport access vlan N`, `switchport mode access|trunk`, `shutdown`; `end` in every configuration mode
and a global command typed in a sub-mode leaves it; `write memory`, `copy running-config startup-config`,
`show startup-config`, `configure replace flash:startup-config` against the device's saved configuration;
`copy running-config flash:<file>` and `configure replace flash:<file>` (no `force` on EOS) with the file kept
in the device's data dir (flash/, lab/netdevices/fakeswitch/switch.py);
`show running-config` with every interface, `show vlan` with its ports, `show version`,
`show lldp neighbors`, `terminal length|width` (netmiko's session set-up); invalid input answers
`% Invalid input` instead of dropping the session on commands the stock model does not implement.
"""

from __future__ import annotations

import logging

from fake_switches.arista.arista_core import AristaShellSession, AristaSwitchCore
from fake_switches.arista.command_processor import vlan_display_name
from fake_switches.arista.command_processor.config import ConfigCommandProcessor
from fake_switches.arista.command_processor.config_interface import ConfigInterfaceCommandProcessor
from fake_switches.arista.command_processor.config_vlan import ConfigVlanCommandProcessor
from fake_switches.arista.command_processor.default import DefaultCommandProcessor
from fake_switches.arista.command_processor.enabled import EnabledCommandProcessor
from fake_switches.arista.command_processor.terminal_display import TerminalDisplay
from fake_switches.command_processing.piping_processor_base import NotPipingProcessor
from fake_switches.dell.command_processor.enabled import to_vlan_ranges
from fake_switches.switch_configuration import VlanPort
from fake_switches.terminal import LoggingTerminalController

from lab.netdevices import base
from lab.netdevices.fakeswitch.ios import NOT_HERE, ConfigLeafMixin, LabMixin, LabSwitchConfiguration, word

INVALID = "% Invalid input"
INCOMPLETE = "% Incomplete command"


class EosMixin(LabMixin):
    def invalid(self, *_):
        self.write_line(INVALID)

    def incomplete(self):
        self.write_line(INCOMPLETE)

    def do_terminal(self, *args):
        if args and word(args[0], "length") and len(args) == 2 and args[1].isdigit():
            self.write_line("Pagination disabled." if args[1] == "0" else f"Pagination set to {args[1]} lines.")
        elif args and word(args[0], "width") and len(args) == 2 and args[1].isdigit():
            self.write_line(f"Width set to {args[1]} columns.")
        else:
            self.invalid()


class EosConfigLeaf(EosMixin, ConfigLeafMixin):
    pass


def render_running_config(conf: LabSwitchConfiguration, facts: dict) -> str:
    data = ["! Command: show running-config", f"! device: {conf.name} ({facts['hardware']}, EOS-{facts['software']})",
            "!", f"! boot system flash:/EOS-{facts['software']}.swi", "!", f"hostname {conf.name}", "!",
            f"spanning-tree mode {getattr(conf, 'stp_mode', 'mstp')}", "!"]
    for vlan in sorted(conf.vlans, key=lambda v: v.number):
        if vlan.number == 1:
            continue
        data.append(f"vlan {vlan.number}")
        if vlan.name:
            data.append(f"   name {vlan.name}")
        data.append("!")
    for port in conf.get_physical_ports() + sorted(conf.get_vlan_ports(), key=lambda p: int(p.vlan_id)):
        data.append(f"interface {port.name}")
        if port.description:
            data.append(f"   description {port.description}")
        if port.shutdown:
            data.append("   shutdown")
        if isinstance(port, VlanPort):
            data += [f"   ip address {ip}" for ip in port.ips[:1]]
            data += [f"   ip address {ip} secondary" for ip in port.ips[1:]]
        else:
            if port.access_vlan and port.access_vlan != 1:
                data.append(f"   switchport access vlan {port.access_vlan}")
            if port.trunk_vlans is not None:
                data.append(f"   switchport trunk allowed vlan {to_vlan_ranges(port.trunk_vlans)}")
            if port.mode:
                data.append(f"   switchport mode {port.mode}")
        data.append("!")
    if conf.static_routes:
        data += [f"ip route {r.dest} {r.next_hop}" for r in conf.static_routes] + ["!"]
    data.append("end")
    return "\n".join(data) + "\n"


def uptime_text(seconds: float) -> str:
    minutes = int(seconds // 60)
    weeks, minutes = divmod(minutes, 10080)
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{n} {u}{'s' if n != 1 else ''}" for n, u in ((weeks, "week"), (days, "day"), (hours, "hour")) if n]
    return (", ".join(parts) + " and " if parts else "") + f"{minutes} minute{'s' if minutes != 1 else ''}"


def render_version(facts: dict, uptime: float) -> str:
    mac = facts["mac"].replace(":", "")
    return "\n".join([
        f"Arista {facts['hardware']}",
        "Hardware version:    11.01",
        f"Serial number:       {facts['serial']}",
        f"System MAC address:  {mac[0:4]}.{mac[4:8]}.{mac[8:12]}",
        "",
        f"Software image version: {facts['software']}",
        "Architecture:           i386",
        f"Internal build version: {facts['software']}-10076335.4208M",
        "Internal build ID:      7d6b6a6c-2a3f-4b5e-9c1d-4f0e8a1b2c3d",
        "",
        f"Uptime:                 {uptime_text(uptime)}",
        "Total memory:           4011576 kB",
        "Free memory:            2434448 kB",
        "",
    ])


class EosDefault(EosMixin, DefaultCommandProcessor):
    def do_show(self, *args):
        if args and word(args[0], "version", 2):
            return self.write(self.lab.version_text())
        if args and word(args[0], "lldp", 2) and len(args) > 1 and word(args[1], "neighbors"):
            return self._show_lldp()
        if args and word(args[0], "vlan"):
            return self._show_vlan()
        try:
            return super().do_show(*args)
        except NotImplementedError:
            return self.invalid()

    def _show_vlan(self):
        conf = self.switch_configuration
        self.write_line("VLAN  Name                             Status    Ports")
        self.write_line("----- -------------------------------- --------- -------------------------------")
        for vlan in sorted(conf.vlans, key=lambda v: v.number):
            ports = []
            for p in conf.get_physical_ports():
                if p.mode == "trunk":
                    member = p.trunk_vlans is None or vlan.number in p.trunk_vlans
                else:
                    member = (p.access_vlan or 1) == vlan.number
                if member:
                    ports.append(base.short_port(p.name))
            lines = _wrap(ports, 31)
            self.write_line(f"{vlan.number:<5} {vlan_display_name(vlan):<32} {'active':<9} "
                            f"{lines[0] if lines else ''}".rstrip())
            for more in lines[1:]:
                self.write_line(f"{'':49}{more}")
        self.write_line("")

    def _show_lldp(self):
        found = self.lab.neighbors
        self.write_line("Last table change time   : 0:00:30 ago")
        self.write_line(f"Number of table inserts  : {len(found)}")
        self.write_line("Number of table deletes  : 0")
        self.write_line("Number of table drops    : 0")
        self.write_line("Number of table age-outs : 0")
        self.write_line("")
        self.write_line("Port          Neighbor Device ID       Neighbor Port ID    TTL")
        self.write_line("---------- ------------------------ ---------------------- ---")
        for n in found:
            remote = base.short_port(n["remote_port"]) if n["vendor"] == "cisco" else n["remote_port"]
            self.write_line(f"{base.short_port(n['port']):<13} {n['name']:<24} {remote:<19} 120")
        self.write_line("")


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


class EosEnabled(EosDefault, EnabledCommandProcessor):
    def __init__(self, display_class, config):
        EnabledCommandProcessor.__init__(self, display_class, config)

    def process_command(self, line):
        """EOS runs EXEC commands (show, write, copy) in configuration mode too, and stays in that mode."""
        if self.sub_processor is None:
            return super().process_command(line)
        if self.delegate_to_sub_processor(line):
            return True
        processed = self.parse_and_execute_command(line)
        if processed:
            self.show_prompt()
        return processed

    def do_show(self, *args):
        if args and word(args[0], "running-config", 3) and len(args) == 1:
            return self.write(self.lab.running_config())
        if args and word(args[0], "startup-config", 3):
            body = self.lab.startup_config()
            return self.write(body if body is not None else "% Startup-config does not exist\n")
        if args and word(args[0], "running-config", 3):
            try:
                return EnabledCommandProcessor.do_show(self, *args)
            except (NotImplementedError, IndexError):
                return self.invalid()
        return super().do_show(*args)

    def do_configure(self, *args):
        if not args or word(args[0], "terminal"):
            return self.move_to(self.config_processor) if len(args) <= 1 else self.invalid()
        if word(args[0], "replace", 3):
            if len(args) != 2:
                return self.incomplete() if len(args) < 2 else self.invalid()
            text = self._read_config_file(args[1])
            if text is None:
                return self.write_line(f"% Error copying {args[1]} to running-config (File does not exist)")
            for problem in self.lab.replace_running(text):
                self.write_line(problem)
            return None
        return self.invalid()

    def _read_config_file(self, source: str) -> str | None:
        """startup-config, flash:<file> (flash:startup-config is the startup-config itself, as on EOS)."""
        if source == "startup-config":
            return self.lab.startup_config()
        if source.startswith("flash:"):
            return self.lab.read_flash(source[len("flash:"):])
        return None

    def do_write(self, *args):
        if args and not word(args[0], "memory"):
            return self.invalid()
        self.lab.save_startup()
        return self.write_line("Copy completed successfully.")

    def do_copy(self, *args):
        if len(args) != 2 or not word(args[0], "running-config", 3):
            return self.invalid()
        destination = args[1]
        if destination in ("startup-config", "flash:startup-config", "flash:/startup-config"):
            self.lab.save_startup()
            return self.write_line("Copy completed successfully.")
        if destination.startswith("flash:"):
            name = destination[len("flash:"):]
            if self.lab.flash_path(name) is None:
                return self.write_line(f"% Error copying running-config to {destination} (Invalid argument)")
            self.lab.write_flash(name, self.lab.running_config())
            return self.write_line("Copy completed successfully.")
        return self.invalid()


class EosConfig(EosConfigLeaf, ConfigCommandProcessor):
    def process_command(self, line):
        if self.sub_processor is not None:
            processed = self.delegate_to_sub_processor(line)
            if processed or self.sub_processor is None:
                return processed
            func, _ = self.get_command_func(line)
            if func is None:
                return False
            self.sub_processor = None
        return super().process_command(line)

    def do_hostname(self, *args):
        if len(args) != 1:
            return self.incomplete() if not args else self.invalid()
        self.switch_configuration.name = args[0]
        return None

    def do_spanning_tree(self, *args):
        if len(args) == 2 and args[0] == "mode" and args[1] in ("mstp", "rstp", "rapid-pvst", "none"):
            self.switch_configuration.stp_mode = args[1]
        else:
            self.invalid()

    def do_interface(self, *args):
        try:
            return super().do_interface(*args)
        except NotImplementedError:
            return self.invalid()

    def do_ip(self, *args):
        if len(args) == 3 and word(args[0], "route") and "/" in args[1]:
            net, hop = args[1], args[2]
            try:
                route = self.switch_configuration.new("Route", *net.split("/", 1), hop)
            except Exception:
                return self.invalid()
            self.switch_configuration.add_static_route(route)
            return None
        return self.invalid()


class EosConfigInterface(EosConfigLeaf, ConfigInterfaceCommandProcessor):
    def do_description(self, *args):
        if not args:
            return self.incomplete()
        self.port.description = " ".join(args)
        return None

    def do_no_description(self, *_):
        self.port.description = None

    def do_shutdown(self, *_):
        self.port.shutdown = True

    def do_no_shutdown(self, *_):
        self.port.shutdown = None

    def do_switchport(self, *args):
        if args[:2] == ("access", "vlan"):
            if len(args) != 3 or not args[2].isdigit() or not 1 <= int(args[2]) <= 4094:
                return self.invalid()
            self.port.access_vlan = int(args[2])
            return None
        if args[:1] == ("mode",) and len(args) == 2 and args[1] == "access":
            self.port.mode = "access"
            return None
        return super().do_switchport(*args)

    def do_no_switchport(self, *args):
        if args[:2] == ("access", "vlan"):
            self.port.access_vlan = None
            return None
        return super().do_no_switchport(*args)

    def do_ip(self, *args):
        if not args or not any(k.startswith(args[0]) for k in ("address", "helper-address", "virtual-router")):
            return NOT_HERE
        try:
            return super().do_ip(*args)
        except (NotImplementedError, IndexError, ValueError):
            return self.invalid()


class EosConfigVlan(EosConfigLeaf, ConfigVlanCommandProcessor):
    def do_no_name(self, *_):
        self.vlan.name = None


class LabEosCore(AristaSwitchCore):
    def __init__(self, switch_configuration, faults: base.Faults) -> None:
        super().__init__(switch_configuration)
        self.faults = faults

    def processor_stack(self, display):
        return EosDefault(display, enabled=self._enabled(display))

    def _enabled(self, display):
        return EosEnabled(display, config=EosConfig(display, config_vlan=EosConfigVlan(display),
                                                    config_interface=EosConfigInterface(display)))

    def new_config_processor(self):
        return self._enabled(TerminalDisplay()).config_processor

    def launch(self, protocol, terminal_controller):
        self.last_connection_id += 1
        self.logger = logging.getLogger(f"fake_switches.arista.{self.switch_configuration.name}."
                                        f"{self.last_connection_id}.{protocol}")
        processor = self.processor_stack(display=TerminalDisplay())
        processor.init(self.switch_configuration, LoggingTerminalController(self.logger, terminal_controller),
                       self.logger, NotPipingProcessor())
        return EosShellSession(processor, self.faults)


class EosShellSession(base.PausingSession, AristaShellSession):
    def __init__(self, command_processor, faults: base.Faults) -> None:
        self.faults = faults
        super().__init__(command_processor)

    def active(self):
        proc = self.command_processor
        while proc.sub_processor is not None:
            proc = proc.sub_processor
        return proc

    def handle(self, line):
        if line.strip() and self.faults.rejects(line):
            self.active().write_line(INVALID)
            self.active().show_prompt()
            return True
        try:
            return AristaShellSession.receive(self, line)
        except Exception:
            logging.getLogger("lab.eos").exception("command %r failed", line)
            self.active().write_line(INVALID)
            self.active().show_prompt()
            return True
