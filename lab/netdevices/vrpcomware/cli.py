"""The CLI of a lab Huawei VRP8 (CloudEngine) or H3C Comware 7 switch: one session's views and commands on
fake-switches' command-processor framework (BaseCommandProcessor: prompt, output, `| include` piping, Y/N
questions; ShellSession: one line at a time), editing the tree of lab/netdevices/vrpcomware/config.py.

Vendor documentation each behaviour follows (the numbers are cited next to the code as [n]):
 [1] Huawei CloudEngine 8800/7800/6800/5800 V200R002C50 Command Reference, "Selecting a Mode for the
     Configuration to Take Effect": two-stage mode; commands go to a candidate, `commit` makes them run.
     https://support.huawei.com/enterprise/en/doc/EDOC1000166501/b6bc6158/Configuring%20System%20Startup%20Commands.htm
 [2] Huawei VRP8 command reference, commit (CFGOM): `commit [trial [time]] [label L] [description D]`,
     trial time 60-65535 s (default 600), prompt `[~HUAWEI]` / `[*HUAWEI]`, `display configuration commit
     list`, commit IDs 1000000001-1999999999.
     http://a10.tagan.ru/huawei/netengine8000f1a/command/8090/Commit(CFGOM).html
 [3] Huawei VRP8 command reference, rollback configuration (CFGOM): `rollback configuration to commit-id X |
     last N` (user view): back to the configuration as it was when that rollback point was made.
     http://a10.tagan.ru/huawei/netengine8000f1a/command/8090/rollbackconfig(cfgom).html
 [4] HPE FlexNetwork 5510 HI (Comware 7) Fundamentals Configuration Guide, "Configuring configuration commit
     delay" (Release 1121 and later): `configuration commit delay N` (minutes) then `configuration commit`;
     unconfirmed, the device rolls back to the settings before the delay command.
     https://www.easymanua.ls/hpe/flexnetwork-5510-hi-series/manual/687520?p=105
 [5] H3C S6116 Configuration Guide (Comware 7), 07-Configuration file management: configuration archive
     (`archive configuration location D filename-prefix P`, `archive configuration`), configuration
     rollback (`configuration replace file F`: keeps common lines, undoes the others, applies the file's).
     https://wwwsg.h3c.com/en/d_202311/1964084_294551_0.htm ; archive file names prefix_N.cfg:
     https://www.easymanua.ls/hpe/flexfabric-5940-series/manual/241145?p=165
 [6] HP A3100 (Comware) configuration rollback, `configuration replace file`:
     https://manualsdump.com/en/manuals/hp-jg223a-jg221a-jd320b-jg222a-jd313b-jd311b-jd312b-jd318b-a3100-8-poe_v2_ei-a3100-8_dc_ei/285774/116
 [7] H3C Comware 7 configuration file format (sections between `#`, global lines indented, `return` last),
     H3C S3100 Operation Manual, Configuration File Management:
     https://manualshive.com/ru/manual/h3c/h3c-s3100-8c-si/575500?page=93
"""

from __future__ import annotations

import logging
import re

from fake_switches.command_processing.base_command_processor import BaseCommandProcessor
from fake_switches.command_processing.shell_session import ShellSession

from lab.netdevices import base
from lab.netdevices.vrpcomware import config as cf
from lab.netdevices.vrpcomware.config import COMWARE, VRP

NOT_HERE = object()  # "not a command of this view": the upper view tries it
ERRORS = {
    VRP: {"unrecognized": "Error: Unrecognized command found at '^' position.",
          "wrong": "Error: Wrong parameter found at '^' position.",
          "incomplete": "Error: Incomplete command found at '^' position."},
    COMWARE: {"unrecognized": " % Unrecognized command found at '^' position.",
              "wrong": " % Wrong parameter found at '^' position.",
              "incomplete": " % Incomplete command found at '^' position."},
}
# Interface names: what the user may type (any case, unambiguous start) -> the name the device prints.
IFTYPES = {
    VRP: {"vlanif": "Vlanif", "gigabitethernet": "GE", "ge": "GE", "10ge": "10GE", "xgigabitethernet": "10GE",
          "40ge": "40GE", "100ge": "100GE", "loopback": "LoopBack", "meth": "MEth"},
    COMWARE: {"vlan-interface": "Vlan-interface", "vlanif": "Vlan-interface", "gigabitethernet": "GigabitEthernet",
              "ge": "GigabitEthernet", "ten-gigabitethernet": "Ten-GigabitEthernet", "xge": "Ten-GigabitEthernet",
              "loopback": "LoopBack", "m-gigabitethernet": "M-GigabitEthernet"},
}
LOGICAL = ("Vlanif", "Vlan-interface", "LoopBack")
USER_WORDS = {VRP: ("display", "system-view", "quit", "save", "screen-length", "rollback", "return"),
              COMWARE: ("display", "system-view", "quit", "save", "screen-length", "archive", "return")}
SYSTEM_WORDS = ("display", "sysname", "vlan", "interface", "ip", "acl", "commit", "quit", "return", "undo", "lldp",
                "configuration", "save", "abort", "archive", "description", "rule", "shutdown", "port")
DISPLAY_WORDS = ("current-configuration", "saved-configuration", "configuration", "acl", "version", "interface",
                 "vlan", "lldp", "archive")
RD = re.compile(r"(\d+|\d+\.\d+\.\d+\.\d+):\d+")


class Err(Exception):
    def __init__(self, kind: str, index: int) -> None:
        super().__init__(kind)
        self.kind, self.index = kind, index


def expand(token: str, words: tuple[str, ...]) -> str:
    """The CLI's unambiguous abbreviations (`dis cur`, `sys`)."""
    if token in words:
        return token
    hits = [w for w in words if w.startswith(token.lower())]
    return hits[0] if len(hits) == 1 and len(token) >= 2 else token


class ViewProcessor(BaseCommandProcessor):
    """One session: user view, system view and its sub-views (a stack of (view, section line))."""

    def init(self, switch_configuration, terminal_controller, logger, piping_processor, *args):
        super().init(switch_configuration, terminal_controller, logger, piping_processor)
        self.dev = args[0]
        self.vendor = self.dev.vendor
        self.system = False
        self.stack: list[tuple[str, str]] = []
        self.candidate: cf.Config | None = None
        self.dirty = False

    # --- state -----------------------------------------------------------------------------------------
    @property
    def cfg(self) -> cf.Config:
        """Comware applies at once (the running configuration); VRP8 edits this session's candidate [1]."""
        if self.vendor == COMWARE:
            return self.dev.running
        if self.candidate is None or not self.dirty:
            self.candidate = self.dev.running.copy()
        return self.candidate

    def changed(self) -> None:
        if self.vendor == VRP:
            self.dirty = self.candidate is not None and self.candidate.render() != self.dev.running.render()
        else:
            self.dev.touched()

    def node(self, depth: int | None = None) -> cf.Node:
        node = self.cfg.root
        for _, text in self.stack[:depth]:
            node = node.ensure(text)
        return node

    def get_prompt(self):
        name = self.dev.running.sysname()
        if not self.system:
            return f"<{name}>"
        view = "".join(f"-{self.view_name(v, t)}" for v, t in self.stack)
        if self.vendor == VRP:
            return f"[{'*' if self.dirty else '~'}{name}{view}]"  # [1]: `~` nothing to commit, `*` uncommitted
        return f"[{name}{view}]"

    def view_name(self, view: str, text: str) -> str:
        words = text.split()
        if view == "interface":
            return words[1]
        if view == "vlan":
            return f"vlan{words[1]}"
        if view == "vpn":
            return f"vpn-instance-{words[2]}"
        if view == "af":
            return "af-ipv4"
        if view == "acl":
            ident = words[-2] if words[1] == "name" and self.vendor == VRP else words[-1]
            return f"acl4-advance-{ident}" if self.vendor == VRP else f"acl-ipv4-adv-{ident}"
        return view

    # --- output ----------------------------------------------------------------------------------------
    def error(self, line: str, kind: str, index: int) -> None:
        spans = [m.start() for m in re.finditer(r"\S+", line)]
        col = spans[index] if index < len(spans) else len(line.rstrip()) + 1
        self.write_line(" " * (len(self.get_prompt()) + col) + "^")
        self.write_line(ERRORS[self.vendor][kind])

    def say(self, text: str) -> None:
        for line in text.splitlines():
            self.write_line(line)

    def ask(self, question: str, then) -> None:
        self.write(question)
        self.continue_to(then)

    # --- dispatch --------------------------------------------------------------------------------------
    def parse_and_execute_command(self, line):
        tokens = line.split()
        if not tokens:
            return True
        words = SYSTEM_WORDS if self.system else USER_WORDS[self.vendor]
        tokens[0] = expand(tokens[0], words)
        if tokens[0] == "display" and len(tokens) > 1:
            tokens[1] = expand(tokens[1], DISPLAY_WORDS)
        try:
            if tokens[0] == "display":
                self.display(tokens, line)
            elif not self.system:
                self.user_view(tokens, line)
            else:
                self.in_system(tokens, line)
        except Err as exc:
            self.error(line, exc.kind, exc.index)
        return True

    def in_system(self, tokens: list[str], line: str) -> None:
        if tokens == ["quit"]:
            if self.stack:
                self.stack.pop()
            else:
                self.leave_system()
            return
        if tokens == ["return"]:
            self.leave_system()
            return
        negate = tokens[0] == "undo"
        words = tokens[1:] if negate else tokens
        if negate and not words:
            raise Err("incomplete", 1)
        offset = 1 if negate else 0
        saved = list(self.stack)
        # The current view first, then each upper view: a line of an upper view runs there and leaves the
        # sub-view (as VRP and Comware do with a saved configuration's sections, one after the other).
        for depth in range(len(saved), -1, -1):
            self.stack = saved[:depth]
            view = saved[depth - 1][0] if depth else "system"
            try:
                result = getattr(self, f"view_{view}")(words, negate, offset, line)
            except Err:
                self.stack = saved  # a bad line leaves the view as it was
                raise
            if result is not NOT_HERE:
                self.changed()
                return
        self.stack = saved
        raise Err("unrecognized", offset)

    def leave_system(self) -> None:
        if self.vendor == VRP and self.dirty:
            self.ask("Warning: Uncommitted configurations found. Are you sure to commit them before exiting? "
                     "[Y(yes)/N(no)/C(cancel)]:", self.answer_leave)
            return
        self.system, self.stack = False, []

    def answer_leave(self, answer: str) -> None:
        a = answer.strip().lower()
        self.write_line("")
        if a in ("y", "yes"):
            self.dev.commit(self.candidate, self.dev.username)
        if a in ("y", "yes", "n", "no"):
            self.system, self.stack, self.dirty, self.candidate = False, [], False, None

    # --- user view -------------------------------------------------------------------------------------
    def user_view(self, t: list[str], line: str) -> None:
        if t == ["system-view"]:
            self.system = True
            self.say("Enter system view, return user view with return command." if self.vendor == VRP
                     else "System View: return to User View with Ctrl+Z.")
            return
        if t in (["quit"], ["return"]):
            if t == ["quit"]:
                self.is_done = True
            return
        if t[0] == "screen-length":
            if t[1:] in (["0", "temporary"], ["disable"]):
                if self.vendor == VRP:
                    self.say("Info: The configuration takes effect on the current user terminal interface only.")
                return
            raise Err("wrong", 1)
        if t[0] == "save":
            return self.save(t, line)
        if self.vendor == VRP and t[:2] == ["rollback", "configuration"]:
            return self.rollback(t, line)
        if self.vendor == COMWARE and t == ["archive", "configuration"]:
            return self.archive_now()
        raise Err("unrecognized", 0)

    def save(self, t: list[str], line: str) -> None:
        if self.vendor == VRP:
            if len(t) > 1:
                raise Err("wrong", 1)
            self.ask("Warning: The current configuration will be written to the device. Continue? [Y/N]:",
                     self.answer_save)
            return None
        if t[1:] == ["force"]:
            self.dev.save()
            self.say("Validating file. Please wait...\nSaved the current configuration to mainboard device "
                     "successfully.")
            return None
        if len(t) == 2 and t[1].startswith("flash:"):
            self.ask(f"The current configuration will be saved to {t[1]}. Continue? [Y/N]:",
                     lambda a, f=t[1]: self.answer_save_file(a, f))
            return None
        if len(t) > 1:
            raise Err("wrong", 1)
        self.ask("The current configuration will be written to the device. Are you sure? [Y/N]:",
                 self.answer_save)
        return None

    def answer_save(self, answer: str) -> None:
        self.write_line("")
        if answer.strip().lower() in ("y", "yes"):
            if self.vendor == VRP:
                self.dev.save()
                self.say("Now saving the current configuration to the slot 1.\n"
                         "Info: Save the configuration successfully.")
            else:
                self.ask("Please input the file name(*.cfg)[flash:/startup.cfg]\n(To leave the existing filename "
                         "unchanged, press the enter key):", self.answer_save_name)
                return

    def answer_save_name(self, _answer: str) -> None:
        self.dev.save()
        self.write_line("")
        self.say("Validating file. Please wait...\nSaved the current configuration to mainboard device successfully.")

    def answer_save_file(self, answer: str, name: str) -> None:
        self.write_line("")
        if answer.strip().lower() in ("y", "yes"):
            if self.dev.write_flash(name, self.dev.running_text()) is None:
                self.say(f" % Invalid file name {name}.")
            else:
                self.say("Saving the current configuration to the file. Please wait...\n"
                         f"Saved the current configuration to {name} successfully.")

    def rollback(self, t: list[str], line: str) -> None:
        """[3] `rollback configuration to commit-id X` / `last N` (user view)."""
        if t[2:3] == ["to"] and t[3:4] == ["commit-id"] and len(t) == 5:
            target = t[4]
        elif t[2:3] == ["last"] and len(t) == 4 and t[3].isdigit() and 1 <= int(t[3]) <= 80:
            ids = [c["id"] for c in self.dev.commits]
            if int(t[3]) >= len(ids):
                self.say("Error: The number of rollback points is insufficient.")
                return
            target = ids[-1 - int(t[3])]
        else:
            raise Err("incomplete" if len(t) <= 4 else "wrong", min(len(t), 4))
        if not self.dev.rollback_to(target, self.dev.username):
            self.say(f"Error: The commit ID {target} does not exist.")
            return
        self.say("Check rollback point...\nInfo: The rollback operation succeeded.")

    def archive_now(self) -> None:
        """[5] `archive configuration`: the running configuration to <dir>/<prefix>_<n>.cfg."""
        if self.dev.archive_location() is None:
            self.say("Please configure the archive path and file name prefix first.")
            return
        self.ask("Save the running configuration to an archive file. Continue? [Y/N]:", self.answer_archive)

    def answer_archive(self, answer: str) -> None:
        self.write_line("")
        if answer.strip().lower() in ("y", "yes"):
            self.say(f"The archive configuration file {self.dev.archive()} is saved.")

    # --- system view -----------------------------------------------------------------------------------
    def view_system(self, t, neg, o, line):
        root, vrp = self.cfg.root, self.vendor == VRP
        w = t[0]
        if w == "sysname":
            if neg:
                root.remove_where(lambda x: x.startswith("sysname "))
                return None
            if len(t) != 2:
                raise Err("incomplete" if len(t) < 2 else "wrong", o + min(len(t), 2))
            root.set_keyed("sysname", f"sysname {t[1]}")
            return None
        if w == "vlan":
            return self.cmd_vlan(t, neg, o)
        if w == "interface":
            return self.cmd_interface(t, neg, o)
        if w == "ip" and t[1:2] == ["vpn-instance"]:
            if len(t) != 3:
                raise Err("incomplete" if len(t) < 3 else "wrong", o + min(len(t), 3))
            text = f"ip vpn-instance {t[2]}"
            if neg:
                root.remove_where(lambda x: x == text)
                for c in root.children:  # its interfaces lose the binding and their addresses
                    if c.child(f"ip binding vpn-instance {t[2]}"):
                        c.remove_where(lambda x: x.startswith(("ip binding vpn-instance ", "ip address ")))
                return None
            root.ensure(text)
            self.stack.append(("vpn", text))
            return None
        if w == "ip" and t[1:2] == ["route-static"]:
            if len(t) < 5 or not all(cf.is_ipv4(x) for x in (t[2], t[4])) or cf.mask_text(t[3]) is None:
                raise Err("wrong", o + 2)
            text = " ".join(["ip route-static", t[2], cf.mask_text(t[3]), *t[4:]])
            root.remove_where(lambda x: x == text) if neg else root.ensure(text)
            return None
        if w == "acl":
            return self.cmd_acl(t, neg, o)
        if w == "lldp" and t[1:] == (["enable"] if vrp else ["global", "enable"]):
            text = " ".join(t)
            root.remove_where(lambda x: x == text) if neg else root.ensure(text)
            return None
        if vrp and w == "commit" and not neg:
            return self.commit(t, line)
        if vrp and t == ["abort", "trial"] and not neg:
            if not self.dev.abort_trial(self.dev.username):
                self.say("Error: No trial configuration exists.")
            return None
        if not vrp and w == "configuration" and not neg:
            return self.comware_configuration(t, line)
        if not vrp and t[:3] == ["archive", "configuration", "location"]:
            if neg:
                root.remove_where(lambda x: x.startswith("archive configuration location "))
                return None
            if len(t) != 6 or t[4] != "filename-prefix" or not t[3].startswith("flash:/"):
                raise Err("wrong", o + min(len(t) - 1, 4))
            root.set_keyed("archive configuration location", " ".join(t))
            return None
        if w == "save" and not neg:
            self.save(t, line)
            return None
        return NOT_HERE

    def cmd_vlan(self, t, neg, o):
        cfg = self.cfg  # once: on VRP8 a clean session's first look copies the running configuration
        root = cfg.root
        if self.vendor == VRP and t[1:2] == ["batch"]:
            try:
                ids = cf.parse_vlan_list(" ".join(t[2:]))
            except ValueError as exc:
                raise Err("wrong", o + 2 + exc.args[0]) from None
            if not ids:
                raise Err("incomplete", o + 2)
            self.drop_or_add_vlans(ids, neg)
            return None
        if self.vendor == COMWARE and len(t) == 4 and t[2] == "to":
            try:
                ids = cf.parse_vlan_list(" ".join(t[1:]))
            except ValueError as exc:
                raise Err("wrong", o + 1 + exc.args[0]) from None
            self.drop_or_add_vlans(ids, neg)
            return None
        if len(t) != 2:
            raise Err("incomplete" if len(t) < 2 else "wrong", o + min(len(t), 2))
        if not t[1].isdigit() or not 1 <= int(t[1]) <= 4094:
            raise Err("wrong", o + 1)
        if neg:
            self.drop_or_add_vlans([int(t[1])], True)
            return None
        cfg.vlans.add(int(t[1]))
        root.ensure(f"vlan {int(t[1])}")
        self.stack.append(("vlan", f"vlan {int(t[1])}"))
        return None

    def drop_or_add_vlans(self, ids: list[int], neg: bool) -> None:
        cfg = self.cfg
        if neg:
            cfg.vlans -= set(ids) - {1}
            cfg.root.remove_where(lambda x: x.startswith("vlan ") and x.split()[1].isdigit()
                                  and int(x.split()[1]) in ids and x.split()[1] != "1")
        else:
            cfg.vlans |= set(ids)

    def interface_name(self, words: list[str]) -> str | None:
        text = "".join(words)
        m = re.fullmatch(r"([A-Za-z-]+|\d+[Gg][Ee])(\d[\d/.:]*)", text)
        if not m:
            return None
        typed, number = m.group(1).lower(), m.group(2)
        kinds = IFTYPES[self.vendor]
        hits = {kinds[k] for k in kinds if k == typed} or {kinds[k] for k in kinds if k.startswith(typed)}
        if len(hits) != 1:
            return None
        return hits.pop() + number

    def cmd_interface(self, t, neg, o):
        if len(t) < 2:
            raise Err("incomplete", o + 1)
        name = self.interface_name(t[1:])
        if name is None:
            raise Err("wrong", o + 1)
        text = f"interface {name}"
        root = self.cfg.root
        logical = name.startswith(LOGICAL)
        if neg:
            if not logical:
                raise Err("wrong", o + 1)
            root.remove_where(lambda x: x == text)
            return None
        if not logical and root.child(text) is None:
            raise Err("wrong", o + 1)
        if logical and name.startswith(("Vlanif", "Vlan-interface")):
            number = name.split("e")[-1] if name.startswith("Vlan-interface") else name[6:]
            if not number.isdigit() or not 1 <= int(number) <= 4094:
                raise Err("wrong", o + 1)
        root.ensure(text)
        self.stack.append(("interface", text))
        return None

    def cmd_acl(self, t, neg, o):
        vrp = self.vendor == VRP
        root = self.cfg.root
        if vrp and t[1:2] == ["name"] and len(t) >= 3:
            if len(t) == 4 and t[3] != "advance":
                raise Err("wrong", o + 3)
            text = f"acl name {t[2]} advance"
            existing = root.child(text)
            if len(t) == 3 and not neg and existing is None:
                raise Err("incomplete", o + 3)
        elif not vrp and t[1:3] == ["advanced", "name"] and len(t) == 4:
            text = f"acl advanced name {t[3]}"
        elif (t[1:2] == ["number"] and len(t) == 3) or (vrp and len(t) == 2) or (
                not vrp and t[1:2] == ["advanced"] and len(t) == 3):
            number = t[-1]
            if not number.isdigit() or not 2000 <= int(number) <= 3999:
                raise Err("wrong", o + len(t) - 1)
            if int(number) < 3000:
                raise Err("wrong", o + len(t) - 1)  # the lab models advanced ACLs only (3000-3999)
            text = f"acl number {number}" if vrp else f"acl advanced {number}"
        elif neg and t[1:] == ["all"]:
            root.remove_where(lambda x: x.startswith("acl "))
            return None
        else:
            raise Err("incomplete" if len(t) < 3 else "wrong", o + min(len(t), 2))
        if neg:
            root.remove_where(lambda x: x == text)
            return None
        root.ensure(text)
        self.stack.append(("acl", text))
        return None

    # --- VRP8 two-stage commit [1][2] -------------------------------------------------------------------
    def commit(self, t, line):
        trial = None
        i = 1
        label = None
        while i < len(t):
            if t[i] == "trial":
                trial = 600
                if i + 1 < len(t) and t[i + 1].isdigit():
                    if not 60 <= int(t[i + 1]) <= 65535:
                        raise Err("wrong", i + 1)
                    trial = int(t[i + 1])
                    i += 1
                i += 1
            elif t[i] == "label" and i + 1 < len(t):
                label = t[i + 1]
                i += 2
            elif t[i] == "description" and i + 1 < len(t):
                i = len(t)
            else:
                raise Err("wrong" if t[i] not in ("label", "description") else "incomplete", i)
        if not self.dirty:
            if trial is None and self.dev.confirm_trial():
                return None  # [2] `commit` while a trial runs confirms it
            return None
        self.dev.commit(self.candidate, self.dev.username, label=label, trial=trial)
        self.dirty, self.candidate = False, None
        return None

    # --- Comware commit delay, archive, replace [4][5][6] ------------------------------------------------
    def comware_configuration(self, t, line):
        if t[1:3] == ["commit", "delay"]:
            if len(t) != 4 or not t[3].isdigit() or not 1 <= int(t[3]) <= 65535:
                raise Err("incomplete" if len(t) < 4 else "wrong", min(len(t), 3))
            self.dev.arm_commit_delay(int(t[3]))
            return None
        if t[1:] == ["commit"]:
            self.dev.confirm_commit_delay()
            return None
        if t[1:3] == ["replace", "file"]:
            if len(t) != 4:
                raise Err("incomplete" if len(t) < 4 else "wrong", min(len(t), 3))
            if self.dev.read_flash(t[3]) is None:
                self.say(f"File {t[3]} doesn't exist.")
                return None
            self.ask("Current configuration will be lost, save current configuration? [Y/N]:",
                     lambda a, f=t[3]: self.answer_replace(a, f))
            return None
        raise Err("wrong", 1)

    def answer_replace(self, answer: str, name: str) -> None:
        self.write_line("")
        a = answer.strip().lower()
        if a in ("y", "yes"):
            self.dev.save()
        if a in ("y", "yes", "n", "no"):
            self.say("Now replacing the current configuration. Please wait...")
            self.dev.replace(self.dev.read_flash(name))
            self.stack = []
            self.say(f"Succeeded in replacing current configuration with the file {name.split('/')[-1]}.")

    # --- sub-views -------------------------------------------------------------------------------------
    def view_vlan(self, t, neg, o, line):
        node = self.node()
        if t[0] in ("name", "description"):
            if neg:
                node.remove_where(lambda x: x.startswith(t[0] + " "))
                return None
            if len(t) < 2:
                raise Err("incomplete", o + 1)
            node.set_keyed(t[0], f"{t[0]} {line.split(None, 1)[1].strip()}")
            return None
        return NOT_HERE

    def view_vpn(self, t, neg, o, line):
        node = self.node()
        if t[0] == "description":
            return self.keyed_text(node, t, neg, o, line)
        if self.vendor == VRP and t == ["ipv4-family"]:
            if neg:
                node.remove_where(lambda x: x == "ipv4-family")
                return None
            node.ensure("ipv4-family")
            self.stack.append(("af", "ipv4-family"))
            return None
        if self.vendor == COMWARE and t[0] in ("route-distinguisher", "vpn-target"):
            return self.vpn_setting(node, t, neg, o)
        return NOT_HERE

    def view_af(self, t, neg, o, line):
        if t[0] in ("route-distinguisher", "vpn-target"):
            return self.vpn_setting(self.node(), t, neg, o)
        return NOT_HERE

    def vpn_setting(self, node, t, neg, o):
        if t[0] == "route-distinguisher":
            if neg:
                node.remove_where(lambda x: x.startswith("route-distinguisher "))
                return None
            if len(t) != 2 or not RD.fullmatch(t[1]):
                raise Err("incomplete" if len(t) < 2 else "wrong", o + 1)
            current = next((c.text for c in node.children if c.text.startswith("route-distinguisher ")), None)
            if current and current != f"route-distinguisher {t[1]}":
                self.say("Error: The RD has been configured. To change it, delete the existing RD first."
                         if self.vendor == VRP else " % The route distinguisher has been configured.")
                return None
            node.ensure(f"route-distinguisher {t[1]}")
            return None
        if len(t) < 2:
            raise Err("incomplete", o + 1)
        text = " ".join(t)
        node.remove_where(lambda x: x == text) if neg else node.ensure(text)
        return None

    def keyed_text(self, node, t, neg, o, line):
        if neg:
            node.remove_where(lambda x: x.startswith(t[0] + " "))
            return None
        if len(t) < 2:
            raise Err("incomplete", o + 1)
        node.set_keyed(t[0], f"{t[0]} {line.split(t[0], 1)[1].strip()}")
        return None

    def view_acl(self, t, neg, o, line):
        node = self.node()
        if t[0] == "description":
            return self.keyed_text(node, t, neg, o, line)
        if t[0] != "rule":
            return NOT_HERE
        rules = {int(c.text.split()[1]): c for c in node.children if c.text.startswith("rule ")}
        i = 1
        number = None
        if len(t) > 1 and t[1].isdigit():
            number = int(t[1])
            if number > 4294967294:
                raise Err("wrong", o + 1)
            i = 2
        if neg and number is not None and i == len(t):
            if number not in rules:
                self.say("Error: The rule does not exist." if self.vendor == VRP
                         else " % The rule does not exist.")
                return None
            node.remove_where(lambda x: x.startswith(f"rule {number} "))
            return None
        try:
            body = cf.parse_rule_body(t, i)
        except cf.RuleError as exc:
            raise Err("incomplete" if exc.incomplete else "wrong" if exc.index > 2 else "unrecognized",
                      o + exc.index) from None
        same = [n for n, c in rules.items() if c.text.split(None, 2)[2] == body]
        if neg:
            for n in same:
                if number is None or n == number:
                    node.remove_where(lambda x, n=n: x.startswith(f"rule {n} "))
            return None
        if number is None:
            if same:
                return None  # the ACL holds that rule already
            step = 5
            number = (max(rules) // step + 1) * step if rules else (step if self.vendor == VRP else 0)
        node.remove_where(lambda x: x.startswith(f"rule {number} "))
        node.children.append(cf.Node(f"rule {number} {body}"))
        return None

    def view_interface(self, t, neg, o, line):
        node = self.node()
        name = self.stack[-1][1].split(None, 1)[1]
        logical = name.startswith(LOGICAL)
        vrp = self.vendor == VRP
        w = t[0]
        if w == "description":
            return self.keyed_text(node, t, neg, o, line)
        if w == "shutdown" and len(t) == 1:
            node.remove_where(lambda x: x == "shutdown") if neg else node.ensure("shutdown")
            return None
        if logical and t[:2] == ["ip", "address"]:
            return self.ip_address(node, t, neg, o)
        if logical and t[:3] == ["ip", "binding", "vpn-instance"]:
            if neg:
                node.remove_where(lambda x: x.startswith(("ip binding vpn-instance ", "ip address ")))
                return None
            if len(t) != 4:
                raise Err("incomplete" if len(t) < 4 else "wrong", o + min(len(t), 3))
            if t[3] not in self.cfg.vpn_instances():
                self.say("Error: The VPN instance does not exist." if vrp
                         else " % The VPN instance doesn't exist.")
                return None
            if node.child(f"ip binding vpn-instance {t[3]}"):
                return None
            if any(c.text.startswith("ip address ") for c in node.children):
                self.say("Info: All IPv4 related configurations on this interface are removed." if vrp
                         else "Some configurations on the interface are removed.")
            node.remove_where(lambda x: x.startswith(("ip binding vpn-instance ", "ip address ")))
            node.children.append(cf.Node(f"ip binding vpn-instance {t[3]}"))
            return None
        if logical and t[:2] == ["vrrp", "vrid"]:
            return self.vrrp(node, t, neg, o)
        if logical and vrp and w == "traffic-filter":
            # CloudEngine: `traffic-filter inbound|outbound acl { N | name X }` on a Vlanif
            if len(t) < 2 or t[1] not in ("inbound", "outbound"):
                raise Err("incomplete" if len(t) < 2 else "wrong", o + 1)
            key = f"traffic-filter {t[1]}"
            if neg:
                node.remove_where(lambda x: x.startswith(key + " "))
                return None
            if t[2:3] != ["acl"] or not ((len(t) == 4 and t[3].isdigit() and 2000 <= int(t[3]) <= 4999)
                                         or (len(t) == 5 and t[3] == "name")):
                raise Err("incomplete" if len(t) < 4 else "wrong", o + min(len(t) - 1, 3))
            node.set_keyed(key, " ".join(t))
            return None
        if logical and not vrp and w == "packet-filter":
            # Comware 7: `packet-filter { N | name X } { inbound | outbound }`
            if neg and len(t) >= 2:
                direction = t[-1]
                node.remove_where(lambda x: x.startswith("packet-filter ") and x.endswith(" " + direction)
                                  and (len(t) == 2 or x == "packet-filter " + " ".join(t[1:])))
                return None
            ok = (len(t) == 3 and t[1].isdigit() and 2000 <= int(t[1]) <= 3999) or (len(t) == 4 and t[1] == "name")
            if not ok or t[-1] not in ("inbound", "outbound"):
                raise Err("incomplete" if len(t) < 3 else "wrong", o + min(len(t) - 1, 2))
            direction = t[-1]
            node.remove_where(lambda x: x.startswith("packet-filter ") and x.endswith(" " + direction))
            node.children.append(cf.Node(" ".join(t)))
            return None
        if not logical and w == "port":
            return self.port(node, t, neg, o)
        return NOT_HERE

    def ip_address(self, node, t, neg, o):
        if neg:
            if len(t) == 2:
                node.remove_where(lambda x: x.startswith("ip address "))
                return None
            mask = cf.mask_text(t[3]) if len(t) > 3 else None
            text = " ".join(["ip address", t[2], mask or "", *t[4:]]).replace("  ", " ")
            node.remove_where(lambda x: x == text)
            return None
        if len(t) < 4:
            raise Err("incomplete", o + len(t))
        if not cf.is_ipv4(t[2]):
            raise Err("wrong", o + 2)
        mask = cf.mask_text(t[3])
        if mask is None:
            raise Err("wrong", o + 3)
        sub = t[4:] == ["sub"]
        if len(t) > 4 and not sub:
            raise Err("wrong", o + 4)
        text = f"ip address {t[2]} {mask}" + (" sub" if sub else "")
        if not sub:
            node.remove_where(lambda x: x.startswith("ip address ") and not x.endswith(" sub"))
        elif node.child(text):
            return None
        node.children.append(cf.Node(text))
        return None

    def vrrp(self, node, t, neg, o):
        if len(t) < 3 or not t[2].isdigit() or not 1 <= int(t[2]) <= 255:
            raise Err("incomplete" if len(t) < 3 else "wrong", o + min(len(t), 2))
        vrid = t[2]
        prefix = f"vrrp vrid {vrid} "
        exists = any(c.text.startswith(prefix + "virtual-ip ") for c in node.children)
        if neg:
            if len(t) == 3:
                node.remove_where(lambda x: x.startswith(prefix))
            elif t[3] == "virtual-ip" and len(t) == 5:
                node.remove_where(lambda x: x == prefix + f"virtual-ip {t[4]}")
            else:
                node.remove_where(lambda x: x.startswith(prefix + t[3]))
            return None
        if len(t) < 4:
            raise Err("incomplete", o + 3)
        if t[3] == "virtual-ip":
            if len(t) != 5 or not cf.is_ipv4(t[4]):
                raise Err("incomplete" if len(t) < 5 else "wrong", o + 4)
            node.ensure(prefix + f"virtual-ip {t[4]}")
            return None
        if t[3] == "priority":
            if len(t) != 5 or not t[4].isdigit() or not 1 <= int(t[4]) <= 254:
                raise Err("incomplete" if len(t) < 5 else "wrong", o + 4)
            if self.vendor == VRP and not exists:
                self.say("Error: The VRRP backup group does not exist.")
                return None
            node.set_keyed(prefix + "priority", prefix + f"priority {t[4]}")
            return None
        if t[3] == "preempt-mode":
            node.set_keyed(prefix + "preempt-mode", prefix + " ".join(t[3:]))
            return None
        raise Err("wrong", o + 3)

    def port(self, node, t, neg, o):
        vrp = self.vendor == VRP
        if t[1:2] == ["link-type"]:
            if neg:
                node.remove_where(lambda x: x.startswith("port link-type "))
                return None
            if len(t) != 3 or t[2] not in ("access", "trunk", "hybrid"):
                raise Err("incomplete" if len(t) < 3 else "wrong", o + 2)
            node.set_keyed("port link-type", " ".join(t))
            return None
        access = ["default", "vlan"] if vrp else ["access", "vlan"]
        if t[1:3] == access:
            key = "port " + " ".join(access)
            if neg:
                node.remove_where(lambda x: x.startswith(key))
                return None
            if len(t) != 4 or not t[3].isdigit() or not 1 <= int(t[3]) <= 4094:
                raise Err("incomplete" if len(t) < 4 else "wrong", o + 3)
            node.set_keyed(key, f"{key} {int(t[3])}")
            return None
        trunk = ["trunk", "allow-pass", "vlan"] if vrp else ["trunk", "permit", "vlan"]
        if t[1:4] == trunk:
            key = "port " + " ".join(trunk)
            try:
                ids = set(cf.parse_vlan_list(" ".join(t[4:])))
            except ValueError as exc:
                raise Err("wrong", o + 4 + exc.args[0]) from None
            current = next((c.text for c in node.children if c.text.startswith(key + " ")), None)
            have = set(cf.parse_vlan_list(current[len(key):])) if current else set()
            have = have - ids if neg else have | ids
            node.remove_where(lambda x: x.startswith(key + " "))
            if have:
                node.children.append(cf.Node(f"{key} {cf.vlan_ranges(sorted(have))}"))
            return None
        raise Err("wrong", o + 1)

    # --- display ---------------------------------------------------------------------------------------
    def display(self, t: list[str], line: str) -> None:
        what = t[1:]
        dev = self.dev
        if what == ["current-configuration"]:
            self.say(dev.running_text().rstrip("\n"))
        elif what == ["saved-configuration"]:
            self.say((dev.startup_text() or "").rstrip("\n"))
        elif self.vendor == VRP and what == ["configuration", "candidate"]:
            self.say((self.candidate if self.system and self.dirty else dev.running).render().rstrip("\n"))
        elif self.vendor == VRP and what[:3] == ["configuration", "commit", "list"]:
            self.say(dev.commit_list_text())
        elif what[:1] == ["acl"] and len(what) >= 2:
            self.say(dev.acl_text(what[1:]))
        elif what == ["version"]:
            self.say(dev.version_text())
        elif what == ["interface", "brief"]:
            self.say(dev.interface_brief())
        elif what[:1] == ["vlan"] and len(what) <= 2:
            self.say(dev.vlan_text(what[1:]))
        elif self.vendor == VRP and what == ["lldp", "neighbor", "brief"]:
            self.say(dev.lldp_text("brief"))
        elif (self.vendor == COMWARE and len(what) == 3 and what[0] == "lldp" and what[2] in ("brief", "list")
              and len(what[1]) >= 3 and "neighbor-information".startswith(what[1])):
            self.say(dev.lldp_text(what[2]))  # `list` is Comware 7's layout, `brief` Comware 5's
        elif self.vendor == COMWARE and what == ["archive", "configuration"]:
            self.say(dev.archive_text())
        else:
            raise Err("unrecognized", 1 if len(t) > 1 else 0)


class Session(base.PausingSession, ShellSession):
    """One SSH session: faults first (faults.json reject/drop/delay), then the views."""

    def __init__(self, command_processor, faults: base.Faults) -> None:
        self.faults = faults
        super().__init__(command_processor)

    def handle(self, line):
        proc = self.command_processor
        if line.strip() and not proc.continuing_to and self.faults.drops(line):
            logging.getLogger("lab.vrpcomware").warning("fault: session dropped at %r", line)
            return False
        if line.strip() and not proc.continuing_to and self.faults.rejects(line):
            proc.error(line, "unrecognized", 0)
            proc.show_prompt()
            return True
        try:
            return ShellSession.receive(self, line)
        except Exception:  # a bug in the simulator must not drop the SSH session
            logging.getLogger("lab.vrpcomware").exception("command %r failed", line)
            proc.continuing_to = None
            proc.error(line, "unrecognized", 0)
            proc.show_prompt()
            return True
