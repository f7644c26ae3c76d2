"""The seam to switches and firewalls over SSH: the only place in jinbao-dc that imports netmiko.

`connect()` turns every way of failing to reach a device into one `NetdevError` line naming the device,
the inventory field to look at, and what was seen:

    core-01: ansible_host: cannot connect to 127.0.0.1:18801 (timed out after 2 attempts)
    core-01: netdev_password: login refused for user jinbao-lab
    core-01: netdev_known_hosts: the host key of [127.0.0.1]:18801 does not match .lab/netdev/known_hosts

Host keys are always checked against the inventory's known_hosts file; there is no trust on first use.
On top of the connection: the running configuration (normalised, so a checksum changes only when the
configuration does), the delta from an intended configuration (hier_config, scoped to what the platform
manages), a push that stops at the first rejected line, commit-confirm where the platform has it, a
checkpoint on the device before a change and the restore to it.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ansible_collections.jinbao.dc.plugins.module_utils.seams.netdev_acl import (
    COMWARE_ACL,
    EOS_ACL,
    IOS_ACL,
    VRP_ACL,
    AclSyntax,
    acl_delta,
    parse_show,
    policy_view,
    without_unbinding,
)

try:
    from netmiko import ConnectHandler
    from netmiko.exceptions import (
        ConfigInvalidException,
        NetmikoAuthenticationException,
        NetmikoTimeoutException,
        ReadTimeout,
    )
    from paramiko.ssh_exception import BadHostKeyException, SSHException

    HAS_NETMIKO = True
    NETMIKO_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module through missing_required_lib
    HAS_NETMIKO = False
    NETMIKO_IMPORT_ERROR = exc


class NetdevError(Exception):
    """A device operation failed; str() is one line: '<device>: <field>: <what happened>'."""

    def __init__(self, device: str, field: str, message: str) -> None:
        super().__init__(f"{device}: {field}: {message}")
        self.device = device
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Vendor:
    show_config: str
    hier_platform: str          # hier_config Platform member name
    ntc_platform: str           # ntc-templates platform name (TextFSM parsing)
    error_pattern: str          # output of a rejected command
    checkpoint: str | None = None   # saves the running config on the device, {name} is the file
    restore: str | None = None      # replaces the running config with that file
    commit_confirm: str | None = None   # enter config mode with an automatic rollback after {minutes}
    confirm: str | None = None          # keep the change
    # The answer to commit_confirm that names the file the device archived its running configuration to (its
    # rollback point; group 1: the file on flash:). No match: the device made no archive (IOS re-arming a timer
    # an earlier unconfirmed change left pending answers "Timer reset" and keeps the older archive).
    archived: str | None = None
    configurable: bool = True
    volatile: tuple[str, ...] = field(default_factory=tuple)  # lines that change without a config change
    # A sub-command that wipes other lines of its section (IOS: `ip vrf forwarding` removes the interface's
    # addresses): when it is sent, the whole intended section is sent after it.
    resets_section: str | None = None
    # How the platform writes, numbers, applies and lists its ACLs (netdev_acl): ACLs are changed by content
    # against the device's own sequence numbers, never through an open window. None: hier_config alone.
    acl: AclSyntax | None = None
    negate: str = "no "         # the negation prefix (hier_config's platform has the same)
    # Lines that are no configuration, only separators (VRP and Comware print `#` between sections; Comware
    # indents its global one-liners right after one: ` sysname x`): dropped, and such a one-liner made top-level,
    # before hier_config reads the text.
    separator: str | None = None
    # VRP8 two-stage mode: the lines go to a candidate and `commit` applies them; commit_trial (seconds) applies
    # them with an automatic rollback unless `commit` follows; the rollback point is the newest commit ID
    # (commit_list, first match of commit_id) and the restore `rollback configuration to commit-id {name}`.
    two_stage: bool = False
    commit_trial: str | None = None
    commit_list: str | None = None
    commit_id: str = r"^\s*\d+\s+(\d{10})\s"
    answer: str = ""            # the reply to the device's [Y/N] questions at a checkpoint ("y")
    restore_in_config: bool = False  # the restore command runs in system view and asks [Y/N] (answered "n")


# Huawei VRP8 (CloudEngine): two-stage commit. Huawei VRP8 command reference, commit (CFGOM): `commit trial
# [seconds]` (60-65535), a later `commit` confirms the trial, `display configuration commit list`; rollback
# configuration (CFGOM): `rollback configuration to commit-id X` in user view (lab/netdevices/vrpcomware/cli.py
# [2] [3] cite the pages). A line left uncommitted is dropped on `return` answered N.
VRP_ERROR = r"Error:"
# H3C Comware 7: applied at once; the rollback point is a checkpoint file (`save flash:/X`, answered Y) and the
# restore `configuration replace file flash:/X` in system view (H3C Configuration Guide, configuration
# rollback), answered N to "save current configuration?".
COMWARE_ERROR = r"% ?(Unrecognized|Incomplete|Wrong parameter|Too many parameters|Ambiguous)"

IOS_VOLATILE = (r"^Building configuration", r"^Current configuration\s*:", r"^! Last configuration change",
                r"^! NVRAM config last updated", r"^ntp clock-period")
VENDORS: dict[str, Vendor] = {
    "cisco": Vendor("show running-config", "CISCO_IOS", "cisco_ios", r"% ?(Invalid|Incomplete|Ambiguous|Unknown|Bad)",
                    checkpoint="copy running-config flash:{name}", restore="configure replace flash:{name} force",
                    commit_confirm="configure terminal revert timer {minutes}", confirm="configure confirm",
                    archived=r"Backing up current running config to flash:(\S+)", volatile=IOS_VOLATILE,
                    resets_section=r"^ip vrf forwarding ", acl=IOS_ACL),
    "arista": Vendor("show running-config", "ARISTA_EOS", "arista_eos",
                     r"% ?(Invalid|Incomplete|Ambiguous|Unavailable)",
                     checkpoint="copy running-config flash:{name}", restore="configure replace flash:{name}",
                     volatile=(r"^! Command:", r"^! device:", r"^! Startup-config last modified"), acl=EOS_ACL),
    # Huawei VRP8 (netmiko huawei_vrpv8; hier_config HUAWEI_VRP); a FakeNOS VRP5 device (huawei) is read only
    # because network_configured does not hold it.
    "huawei": Vendor("display current-configuration", "HUAWEI_VRP", "huawei_vrp", VRP_ERROR,
                     volatile=(r"^!Software Version", r"^!Last configuration was"), acl=VRP_ACL, negate="undo ",
                     separator=r"^\s*#\s*$", resets_section=r"^ip binding vpn-instance ", two_stage=True,
                     commit_trial="commit trial {seconds}", commit_list="display configuration commit list",
                     restore="rollback configuration to commit-id {name}"),
    # H3C Comware 7 (netmiko hp_comware; hier_config HP_COMWARE5).
    "h3c": Vendor("display current-configuration", "HP_COMWARE5", "hp_comware", COMWARE_ERROR,
                  checkpoint="save flash:/{name}", restore="configuration replace file flash:/{name}", answer="y",
                  restore_in_config=True, acl=COMWARE_ACL, negate="undo ", separator=r"^\s*#\s*$",
                  resets_section=r"^ip binding vpn-instance "),
    "cisco_asa": Vendor("show running-config", "GENERIC", "cisco_asa", r"ERROR:|% ?Invalid", configurable=False,
                        volatile=(r"^: Saved", r"^: Written by", r"^:\s*$", r"^Cryptochecksum")),
}


def vendor(device: str, name: str) -> Vendor:
    try:
        return VENDORS[name]
    except KeyError:
        raise NetdevError(device, "netdev_vendor", f"unknown vendor {name!r}; expected one of "
                                                   f"{', '.join(sorted(VENDORS))}") from None


CONNECTION_ARGS: dict[str, dict[str, Any]] = {
    "name": {"type": "str", "required": True},
    "host": {"type": "str", "required": True},
    "port": {"type": "int", "default": 22},
    "device_type": {"type": "str", "required": True},
    "vendor": {"type": "str", "required": True},
    "username": {"type": "str", "required": True},
    "password": {"type": "str", "required": True, "no_log": True},
    "secret": {"type": "str", "no_log": True},
    "known_hosts": {"type": "path", "required": True},
    "timeout": {"type": "float", "default": 20.0},
    "retries": {"type": "int", "default": 2},
    "fast_cli": {"type": "bool", "default": True},
}


def argument_spec(**options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A netdev_* module's argument spec: the device session (doc fragment jinbao.dc.netdev, set once per play by
    `module_defaults: {group/jinbao.dc.netdev: ...}`) plus the module's own options."""
    return {**CONNECTION_ARGS, **options}


def connect(name: str, host: str, port: int, device_type: str, username: str, password: str,
            known_hosts: str, secret: str | None = None, timeout: float = 20.0, retries: int = 2,
            fast_cli: bool = True, **_: Any) -> Any:
    """A netmiko connection (enabled where the platform has enable), or NetdevError naming what to fix.
    Only a timeout is retried; a refused login or a wrong host key never is."""
    if not HAS_NETMIKO:
        raise NetdevError(name, "controller", f"the netmiko library is missing ({NETMIKO_IMPORT_ERROR}); run "
                                              "`make deps`")
    params = {"device_type": device_type, "host": host, "port": port, "username": username, "password": password,
              "secret": secret or "", "conn_timeout": timeout, "auth_timeout": timeout, "banner_timeout": timeout,
              "timeout": timeout, "ssh_strict": True, "system_host_keys": False, "alt_host_keys": True,
              "alt_key_file": known_hosts, "fast_cli": fast_cli}
    attempts = max(1, retries)
    for attempt in range(1, attempts + 1):
        try:
            conn = ConnectHandler(**params)
            if secret and hasattr(conn, "check_enable_mode") and not conn.check_enable_mode():
                conn.enable()
            return conn
        except NetmikoAuthenticationException:
            raise NetdevError(name, "netdev_password", f"login refused for user {username}") from None
        except BadHostKeyException:
            raise NetdevError(name, "netdev_known_hosts", f"the host key of [{host}]:{port} does not match "
                                                          f"{known_hosts}; nothing was sent") from None
        except (NetmikoTimeoutException, ConnectionError, OSError) as exc:
            text = str(exc).lower()  # netmiko wraps paramiko's host key errors into its timeout exception
            if "does not match" in text or "known_hosts" in text or "host key" in text:
                mismatch = "does not match" in text
                raise NetdevError(name, "netdev_known_hosts",
                                  f"the host key of [{host}]:{port} does not match {known_hosts}; nothing was sent"
                                  if mismatch else f"[{host}]:{port} is not in {known_hosts} (an unknown host "
                                                   "key); nothing was sent") from None
            if attempt == attempts:
                raise NetdevError(name, "ansible_host", f"cannot connect to {host}:{port} ({_reason(exc)}; "
                                                        f"{attempts} attempt(s))") from None
            time.sleep(min(2.0 * attempt, 5.0))
        except SSHException as exc:
            text = str(exc)
            if "known_hosts" in text or "host key" in text.lower():
                raise NetdevError(name, "netdev_known_hosts", f"[{host}]:{port} is not in {known_hosts} "
                                                              "(an unknown host key); nothing was sent") from None
            raise NetdevError(name, "ansible_host", f"SSH to {host}:{port} failed ({_reason(exc)})") from None
        except ValueError as exc:
            raise NetdevError(name, "netdev_device_type", str(exc).splitlines()[0]) from None
    raise AssertionError("unreachable")


def command(name: str, conn: Any, cmd: str, timeout: float = 60.0) -> str:
    """One show command's text."""
    try:
        return conn.send_command(cmd, read_timeout=timeout)
    except ReadTimeout:
        raise NetdevError(name, "command", f"{cmd!r} did not finish within {timeout:g}s") from None
    except (OSError, EOFError) as exc:
        raise NetdevError(name, "ansible_host", f"the session dropped during {cmd!r} ({_reason(exc)})") from None


def parse(v: Vendor, cmd: str, text: str) -> list[dict] | None:
    """The output parsed by the ntc-templates template for this platform and command; None when there is no
    template or the output does not fit it (the caller keeps the text)."""
    try:
        from ntc_templates.parse import parse_output

        parsed = parse_output(platform=v.ntc_platform, command=cmd, data=text)
    except Exception:  # no template, or TextFSM refused the text: both mean "keep the text"
        return None
    return parsed if isinstance(parsed, list) and parsed else None


# --- facts -------------------------------------------------------------------------------------------------
# The show commands behind a device's facts, per vendor (netdev_facts, and netdev_config after a change).
FACT_COMMANDS = {
    "cisco": {"version": "show version", "interfaces": "show interfaces status", "vlans": "show vlan brief",
              "lldp": "show lldp neighbors"},
    "arista": {"version": "show version", "interfaces": "show interfaces status", "vlans": "show vlan",
               "lldp": "show lldp neighbors"},
    "huawei": {"version": "display version", "interfaces": "display interface brief", "vlans": "display vlan",
               "lldp": "display lldp neighbor brief"},
    "h3c": {"version": "display version", "interfaces": "display interface brief", "vlans": "display vlan",
            "lldp": "display lldp neighbor brief"},
    "cisco_asa": {"version": "show version", "interfaces": "show interface ip brief"},
}
_VOLATILE_FACTS = ("uptime", "restarted", "reload_reason", "exptime", "last_input", "last_output")


def read_facts(name: str, conn: Any, v: Vendor, vendor_name: str) -> tuple[dict, list[str]]:
    """The device's version, interfaces, VLANs and LLDP neighbours, parsed with ntc-templates where a template
    exists (facts['parsed'] lists which), and the commands the device does not know."""
    facts: dict = {}
    unsupported, parsed = [], []
    for key, cmd in FACT_COMMANDS[vendor_name].items():
        text = command(name, conn, cmd)
        if re.search(v.error_pattern + r"|Unknown command|No such command", text):
            unsupported.append(cmd)
            continue
        records = parse(v, cmd, text)
        facts[key] = text if records is None else records
        if records is not None:
            parsed.append(key)
    facts["parsed"] = parsed
    return facts, unsupported


def facts_summary(facts: dict) -> dict:
    """What the inventory of the network keeps of a device's facts: the parsed records without the fields
    that change by themselves (uptime, timers), so that the record changes only when the device does."""
    out = {}
    for key, value in (facts or {}).items():
        if key == "parsed":
            continue
        if isinstance(value, list):
            out[key] = [{k: v for k, v in rec.items() if not any(t in k.lower() for t in _VOLATILE_FACTS)}
                        for rec in value if isinstance(rec, dict)]
        else:
            out[key] = "(not parsed: no ntc-templates template for this platform and command)"
    return out


def write_report(path: str, data: Any, check_mode: bool = False) -> bool:
    """Write a report file (JSON when `data` is not text) atomically; False when it already holds exactly that.
    In check mode, only say whether it would change."""
    import json

    text = data if isinstance(data, str) else json.dumps(data, indent=4, sort_keys=True) + "\n"
    try:
        with open(path, encoding="utf-8") as fh:
            if fh.read() == text:
                return False
    except OSError:
        pass
    if not check_mode:
        os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
        _write(path, text, 0o644)
    return True


# --- configurations ----------------------------------------------------------------------------------------
def normalise(text: str, v: Vendor) -> str:
    """The configuration without the lines that change when nothing was configured (banners with the
    time, byte counts), and with uniform line ends, so that equal configurations have equal checksums."""
    out = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if any(re.match(p, line) for p in v.volatile):
            continue
        out.append(line.rstrip())
    while out and not out[0].strip():
        out.pop(0)
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out) + "\n"


def disconnect(conn: Any) -> None:
    """Close the session; one that is already gone is no error."""
    try:
        conn.disconnect()
    except (OSError, EOFError, ReadTimeout, ValueError):
        pass


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def running_config(name: str, conn: Any, v: Vendor) -> str:
    return normalise(command(name, conn, v.show_config, timeout=120), v)


def delta(running: str, intended: str, v: Vendor, managed: list[str] | None = None,
          acl_seqs: dict[str, list[tuple[int, str]]] | None = None) -> list[str]:
    """The lines to send so that the running configuration holds the intended one (hier_config), limited to
    what the platform manages: the intended configuration's own top-level sections, and the top-level lines
    that match a `managed` pattern (e.g. every zone ACL, so a stale one is removed). The rest of the device's
    configuration is none of its business and is never negated.

    Where the platform has an AclSyntax, its ACLs are left to netdev_acl: compared by content against the
    device's own sequence numbers (`acl_seqs`, read_acls(); without them the numbers are estimated, which
    tells whether a change is due but is never sent), sent before the rest so that no binding meets a missing
    ACL, and stale managed ones removed after it. A binding that replaces another is sent without removing the
    old one first."""
    from hier_config import Platform, WorkflowRemediation, get_hconfig

    patterns = [re.compile(p) for p in managed or []]
    acls = acl_delta(running, intended, v.acl, patterns, acl_seqs) if v.acl else None
    if acls:
        running, intended = acls.running, acls.intended
    platform = getattr(Platform, v.hier_platform)
    run_cfg, want_cfg = get_hconfig(platform, _squeeze(running, v)), get_hconfig(platform, _squeeze(intended, v))
    tops = {c.text: c for c in want_cfg.children}
    lines: list[str] = []
    for child in WorkflowRemediation(run_cfg, want_cfg).remediation_config.children:
        bare = child.text.removeprefix(v.negate)
        if not (bare in tops or any(p.search(bare) for p in patterns)):
            continue
        section = [line.rstrip() for line in child.lines()]
        if v.resets_section and any(re.match(v.resets_section, c.text) for c in child.children) and bare in tops:
            resets = [c for c in child.children if re.match(v.resets_section, c.text)]
            rest = [c for c in tops[bare].children if not re.match(v.resets_section, c.text)]
            section = [child.text, *[f" {c.text}" for c in resets], *[f" {c.text}" for c in rest]]
        lines.extend(without_unbinding(section, v.acl) if v.acl else section)
    return [*acls.first, *lines, *acls.last] if acls else lines


def read_acls(name: str, conn: Any, v: Vendor, *configs: str) -> dict[str, list[tuple[int, str]]] | None:
    """The device's ACL entries with its own sequence numbers (AclSyntax.show, e.g. `show ip access-lists`),
    read only when one of `configs` (running, intended) has an ACL; None when there is none to read, or the
    platform has no such command."""
    syn = v.acl
    if not (syn and syn.show) or not any(re.search(syn.header, c, re.M) for c in configs):
        return None
    text = command(name, conn, syn.show)
    if re.search(v.error_pattern + r"|Unknown command|No such command", text):
        raise NetdevError(name, "acl", f"{syn.show!r} was refused, so the ACLs' sequence numbers cannot be read: "
                                       f"{text.strip()[:200]}")
    return parse_show(text, syn)


def _squeeze(text: str, v: Vendor | None = None) -> str:
    """Runs of blanks inside a line made one (IOS prints ` deny   ip any any`; it means `deny ip any any`).
    Where the platform separates sections with `#` (v.separator), those lines go, and a line indented right
    after one (Comware's global one-liners: `#` / ` sysname x`) is made top-level."""
    out, after_separator = [], True
    for line in text.splitlines():
        if v is not None and v.separator and re.match(v.separator, line):
            after_separator = True
            continue
        if v is not None and v.separator and after_separator and line[:1].isspace():
            line = line.strip()
        after_separator = False
        out.append(re.sub(r"(?<=\S) {2,}", " ", line))
    return "\n".join(out) + "\n"


def arm(name: str, conn: Any, v: Vendor, confirm_minutes: int) -> str | None:
    """Enter configuration mode with the platform's commit-confirm timer: the device rolls the change back by
    itself unless confirm() follows in time (the controller may die mid-change). Returns the file the device
    archived its running configuration to (a checkpoint restore() can use), or None when it made none."""
    command_ = v.commit_confirm.format(minutes=confirm_minutes)
    try:
        out = conn.config_mode(config_command=command_)
    except ValueError as exc:  # netmiko: "Failed to enter configuration mode."
        raise NetdevError(name, "config", f"the device refused configuration mode ({_reason(exc)}); {command_!r} "
                                          "needs the configuration archive on the device (archive / path "
                                          "flash:...); nothing was sent") from None
    except (OSError, EOFError, ReadTimeout) as exc:
        raise NetdevError(name, "ansible_host", f"the session dropped entering configuration mode "
                                                f"({_reason(exc)})") from None
    found = re.search(v.archived, out or "") if v.archived else None
    return found.group(1) if found else None


def push(name: str, conn: Any, lines: list[str], v: Vendor, in_config_mode: bool = False) -> str:
    """Send `lines` in configuration mode (entered here unless arm() did); the first line the device rejects
    raises NetdevError naming it."""
    if not v.configurable:
        raise NetdevError(name, "netdev_vendor", "this platform is discovered and backed up, not configured")
    try:
        return conn.send_config_set(lines, enter_config_mode=not in_config_mode, error_pattern=v.error_pattern,
                                    cmd_verify=True, read_timeout=60)
    except ConfigInvalidException as exc:
        _leave_config_mode(conn, v)
        rejected = _rejected_line(str(exc), lines)
        raise NetdevError(name, "config", f"the device rejected {rejected!r}") from None
    except ReadTimeout as exc:
        _leave_config_mode(conn, v)
        raise NetdevError(name, "config", f"no answer while configuring ({_reason(exc)})") from None
    except ValueError as exc:  # netmiko: "Failed to enter configuration mode."
        raise NetdevError(name, "config", f"the device refused configuration mode ({_reason(exc)}); "
                                          "nothing was sent") from None
    except (OSError, EOFError) as exc:
        raise NetdevError(name, "ansible_host", f"the session dropped while configuring ({_reason(exc)})") from None


def _leave_config_mode(conn: Any, v: Vendor | None = None) -> None:
    """After a refused line the session is still in (sub-)configuration mode; what follows runs in exec. In
    two-stage mode (VRP8) the candidate is dropped: `return` asks whether to commit it, answered N."""
    try:
        if v is not None and v.two_stage:
            out = conn.send_command("return", expect_string=r"\[Y\(yes\)/N\(no\)/C\(cancel\)\]:\s*$|>\s*$",
                                    strip_prompt=False, read_timeout=30)
            if re.search(r"\(cancel\)\]:\s*$", out):
                conn.send_command("n", expect_string=r">\s*$", strip_prompt=False, read_timeout=30)
            return
        conn.exit_config_mode()
    except (ValueError, ReadTimeout, OSError, EOFError):
        pass  # the restore that follows fails loudly if the session is unusable


FILE_ERROR = r"%\s?Error"


def confirm(name: str, conn: Any, v: Vendor, *, strict: bool = True) -> None:
    """Keep the change (commit-confirm). Strict: nothing pending means the device's timer already rolled the
    change back, which is a failure; after a restore (not strict) it only stops the timer."""
    if v.two_stage:  # VRP8: `commit` with nothing in the candidate confirms the running trial
        try:
            conn.config_mode()
            out = conn.send_command("commit", expect_string=r"\]\s*$", read_timeout=60)
            _leave_config_mode(conn, v)
        except (OSError, EOFError, ReadTimeout, ValueError) as exc:
            raise NetdevError(name, "confirm", f"'commit' (confirming the trial) failed ({_reason(exc)})") from None
        if strict and re.search(v.error_pattern, out or ""):
            raise NetdevError(name, "confirm", f"'commit' was refused: {out.strip()[:200]}")
        return
    if not v.confirm:
        return
    out = command(name, conn, v.confirm)
    if strict and re.search(r"No Rollback Confirmed Change pending", out or ""):
        raise NetdevError(name, "confirm", "the device had already rolled the change back (its commit-confirm timer "
                                           "ran out before the change was verified)")
    if re.search(v.error_pattern + "|" + FILE_ERROR, out or "") and "pending" not in out:
        raise NetdevError(name, "confirm", f"{v.confirm!r} was refused: {out.strip()[:200]}")


def checkpoint(name: str, conn: Any, v: Vendor, file: str) -> None:
    """Keep the running configuration on the device itself (what restore() goes back to)."""
    if not v.checkpoint:
        raise NetdevError(name, "netdev_vendor", "no on-device checkpoint for this platform")
    # Wait for the device's answer: a question ("Destination filename [x]?", then "over write? [confirm]"),
    # or the prompt back (done). Reading until one of them is exact, where a fixed wait is a guess.
    answer = r"(\?|\[confirm\]|\[Y/N\]:)\s*$|" + re.escape(conn.base_prompt) + r"\S*[>#\]]\s*$"
    try:
        out = conn.send_command(v.checkpoint.format(name=file), expect_string=answer, read_timeout=60,
                                strip_prompt=False, strip_command=False)
        for _ in range(2):  # take the name given, then confirm the overwrite
            last = out.strip().splitlines()[-1] if out.strip() else ""
            if not (last.endswith("?") or last.endswith("[confirm]") or last.endswith("[Y/N]:")):
                break
            reply = v.answer if last.endswith("[Y/N]:") else ""  # IOS: Enter takes the default; Comware: Y
            out += conn.send_command(reply, expect_string=answer, read_timeout=60, strip_prompt=False,
                                     strip_command=False)
    except (OSError, EOFError, ReadTimeout) as exc:
        raise NetdevError(name, "ansible_host", f"the session dropped at the checkpoint ({_reason(exc)})") from None
    if re.search(v.error_pattern + "|" + FILE_ERROR, out):
        raise NetdevError(name, "checkpoint", f"{v.checkpoint.format(name=file)!r} failed: {out.strip()[:200]}")


def restore(name: str, conn: Any, v: Vendor, file: str) -> str:
    """Replace the running configuration with the checkpoint; returns the device's answer."""
    if not v.restore:
        raise NetdevError(name, "netdev_vendor", "no configuration replace on this platform")
    _leave_config_mode(conn, v)
    if v.two_stage and last_commit(name, conn, v) == file:
        return ""  # nothing was committed since the rollback point (the candidate was dropped)
    try:
        if v.restore_in_config:
            conn.config_mode()
            out = conn.send_command(v.restore.format(name=file), expect_string=r"\[Y/N\]:\s*$|\]\s*$",
                                    strip_prompt=False, read_timeout=120)
            if re.search(r"\[Y/N\]:\s*$", out):
                out += conn.send_command("n", expect_string=r"\]\s*$", strip_prompt=False, read_timeout=120)
            _leave_config_mode(conn, v)
        elif v.two_stage and not file:  # no commit before the change: undo the trial it made
            conn.config_mode()
            out = conn.send_command("abort trial", expect_string=r"\]\s*$", read_timeout=120)
            _leave_config_mode(conn, v)
        elif v.two_stage:
            out = conn.send_command(v.restore.format(name=file), expect_string=r">\s*$", read_timeout=120)
        else:
            out = conn.send_command_timing(v.restore.format(name=file), read_timeout=120)
    except (OSError, EOFError, ReadTimeout) as exc:
        raise NetdevError(name, "ansible_host", f"the session dropped before the restore ({_reason(exc)})") from None
    if re.search(v.error_pattern + "|" + FILE_ERROR, out):
        raise NetdevError(name, "restore", f"{v.restore.format(name=file)!r} failed: {out.strip()[:200]}")
    return out


def last_commit(name: str, conn: Any, v: Vendor) -> str:
    """VRP8: the newest commit ID (`display configuration commit list`, newest first): the rollback point;
    '' when the device lists none (a fresh device)."""
    out = command(name, conn, v.commit_list)
    if re.search(v.error_pattern, out):
        raise NetdevError(name, "checkpoint", f"{v.commit_list!r} was refused: {out.strip()[:200]}")
    found = re.search(v.commit_id, out, re.M)
    return found.group(1) if found else ""


def commit(name: str, conn: Any, v: Vendor, confirm_minutes: int) -> None:
    """VRP8: apply the candidate (`commit trial <seconds>` when commit-confirm is on: the device rolls it back
    by itself unless confirm() follows in time), then leave system view."""
    line = v.commit_trial.format(seconds=max(60, confirm_minutes * 60)) if confirm_minutes else "commit"
    try:
        out = conn.send_command(line, expect_string=r"\]\s*$", strip_prompt=False, read_timeout=120)
    except (OSError, EOFError, ReadTimeout) as exc:
        raise NetdevError(name, "config", f"{line!r} got no answer ({_reason(exc)})") from None
    if re.search(v.error_pattern, out):
        _leave_config_mode(conn, v)
        raise NetdevError(name, "config", f"the device refused {line!r}: {out.strip()[:200]}")
    _leave_config_mode(conn, v)


def save(name: str, conn: Any) -> None:
    try:
        conn.save_config()
    except (ValueError, ReadTimeout, OSError, EOFError) as exc:
        raise NetdevError(name, "save", f"saving the configuration failed ({_reason(exc)})") from None


def _rejected_line(output: str, lines: list[str]) -> str:
    """The configuration line the device refused, from netmiko's error text (the last one it echoed)."""
    for line in reversed(lines):
        if line.strip() and line.strip() in output:
            return line.strip()
    return output.strip().splitlines()[0][:200] if output.strip() else "?"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


# --- backups ------------------------------------------------------------------------------------------------
@dataclass
class Backup:
    path: str           # the backup holding this configuration (new, or the latest when unchanged)
    sha256: str
    changed: bool       # a new version was written (or would be, in check mode)
    previous: str       # the latest backup's text before ("" when there was none)
    pruned: list[str] = field(default_factory=list)


def keep_backup(root: str, device: str, text: str, keep: int = 30, check_mode: bool = False) -> Backup:
    """Keep `text` as <root>/<device>/<UTC timestamp>.cfg with its .sha256 and the `latest` pointer, unless
    it equals the latest backup (then that one is returned). The oldest beyond `keep` are pruned."""
    folder = os.path.join(root, device)
    latest = os.path.join(folder, "latest")
    digest = checksum(text)
    previous = ""
    if os.path.exists(latest):
        with open(latest, encoding="utf-8") as fh:
            previous = fh.read()
        if checksum(previous) == digest:
            return Backup(os.path.realpath(latest), digest, False, previous)
    if check_mode:
        return Backup("", digest, True, previous)
    os.makedirs(folder, mode=0o750, exist_ok=True)
    path = os.path.join(folder, f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S.%fZ')}.cfg")
    _write(path, text, 0o640)
    _write(f"{path}.sha256", f"{digest}  {os.path.basename(path)}\n", 0o644)
    tmp_link = f"{latest}.tmp"
    if os.path.lexists(tmp_link):
        os.unlink(tmp_link)
    os.symlink(os.path.basename(path), tmp_link)
    os.replace(tmp_link, latest)
    backups = sorted(f for f in os.listdir(folder) if f.endswith(".cfg"))
    pruned = []
    for old in backups[:max(0, len(backups) - max(1, keep))]:
        for f in (old, f"{old}.sha256"):
            if os.path.exists(os.path.join(folder, f)):
                os.unlink(os.path.join(folder, f))
        pruned.append(old)
    return Backup(path, digest, True, previous, pruned)


def _write(path: str, text: str, mode: int) -> None:
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


# --- one whole change ---------------------------------------------------------------------------------------
# What configure() takes besides CONNECTION_ARGS (netdev_config's options; netdev_config_batch's per device).
CHANGE_ARGS: dict[str, dict[str, Any]] = {
    "intended": {"type": "str", "required": True},
    "managed": {"type": "list", "elements": "str", "default": []},
    "checkpoint": {"type": "str", "default": "jinbao-prechange.cfg"},
    "confirm_minutes": {"type": "int", "default": 0},
    "save": {"type": "bool", "default": True},
    "backup_dir": {"type": "path"},
    "keep": {"type": "int", "default": 30},
    "intended_file": {"type": "path"},
    "change_dir": {"type": "path"},
    "operator": {"type": "dict", "default": {}},
    "facts_file": {"type": "path"},
    "role": {"type": "str", "default": ""},
}


def configure(p: dict, check_mode: bool = False, *, hold: Callable[[], str] | None = None,
              confirmed: Callable[[], None] | None = None) -> dict:
    """Bring one device to its intended configuration (netdev_config's documentation says how), on one SSH
    session, or two when the rollback point is made early (EarlyRollbackPoint). Never raises for the
    device's own troubles: the result has failed=True and msg naming the device, field and what happened;
    otherwise changed, commands, checksums and backups, and diff['prepared'].

    `hold`, called once the delta is known and before anything is sent, returns why the change must not go
    ahead ('' to go on): the device is then left as it was, with held=True and that reason in msg.
    `confirmed` is called once the change is verified and confirmed (before the save)."""
    name = p["name"]
    try:
        v = vendor(name, p["vendor"])
    except NetdevError as exc:
        return {"failed": True, "changed": False, "msg": str(exc), "field": exc.field}
    early = EarlyRollbackPoint(p, v) if not check_mode and change_expected(p, v) else None
    try:
        conn = connect(**p)
    except NetdevError as exc:
        if early:
            early.cancel()
        return {"failed": True, "changed": False, "msg": str(exc), "field": exc.field}
    try:
        return _configure(p, conn, v, check_mode, early, hold, confirmed)
    except NetdevError as exc:
        return {"failed": True, "changed": False, "msg": str(exc), "field": exc.field}
    finally:
        if early:
            early.cancel()
        disconnect(conn)


def change_expected(p: dict, v: Vendor) -> bool:
    """Whether the device's latest backup says a change is due: the intended configuration is not in it, or
    there is no backup yet (a device this project has never changed). Only then is the rollback point made
    while the running configuration is read (EarlyRollbackPoint)."""
    if not (v.configurable and p.get("backup_dir") and ((p["confirm_minutes"] and v.commit_confirm) or v.checkpoint)):
        return False
    try:
        with open(os.path.join(p["backup_dir"], p["name"], "latest"), encoding="utf-8") as fh:
            last = fh.read()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        return bool(delta(last, p["intended"], v, p["managed"]))
    except Exception:  # a backup hier_config cannot read predicts nothing; the change reads the device anyway
        return False


class EarlyRollbackPoint:
    """The rollback point made on a second session while the first reads the running configuration: the
    revert timer armed (IOS archives the running configuration as it arms it), or the explicit checkpoint.
    Both leave the configuration as it is, so making one that turns out not to be needed is harmless, and
    cancel() undoes it (`configure confirm` stops the timer). take() hands the armed session over: the change
    is sent on it, and the first session stays free for the facts."""

    def __init__(self, p: dict, v: Vendor) -> None:
        self._p, self._v = p, v
        self._session: Any = None
        self._rollback_to: str | None = None
        self._made = 0.0
        self._thread = threading.Thread(target=self._make, name=f"{p['name']}-rollback-point", daemon=True)
        self._thread.start()

    def _make(self) -> None:
        try:
            self._session = connect(**{**self._p, "retries": 1})
        except NetdevError:
            return
        try:
            self._rollback_to = _prepare_rollback(self._p, self._session, self._v)
            self._made = time.monotonic()
        except (NetdevError, OSError, EOFError, ReadTimeout):
            disconnect(self._session)
            self._session = None

    def take(self) -> tuple[Any, str] | None:
        """The armed session and its rollback point, now the caller's to use and close; None when it could not
        be made (the caller makes the rollback point itself, and meets the device's reason), or when the timer
        has run for over half its time (the change was held up, e.g. by side a of its pair): then it is stopped,
        and the caller arms a fresh one, so the whole timer covers the change."""
        self._thread.join()
        if self._session is None or self._rollback_to is None:
            return None
        if self._p["confirm_minutes"] and time.monotonic() - self._made > self._p["confirm_minutes"] * 30:
            self.cancel()
            return None
        taken, self._session = (self._session, self._rollback_to), None
        return taken

    def cancel(self) -> None:
        """Not needed after all (no delta, or the read failed): stop the timer and close the session."""
        self._thread.join()
        if self._session is None:
            return
        if self._p["confirm_minutes"] and self._v.commit_confirm:
            _leave_config_mode(self._session)
            try:
                confirm(self._p["name"], self._session, self._v, strict=False)
            except NetdevError:
                pass  # the timer then runs out and rolls back to the same configuration
        disconnect(self._session)
        self._session = None


def _configure(p: dict, conn: Any, v: Vendor, check_mode: bool, early: EarlyRollbackPoint | None = None,
               hold: Callable[[], str] | None = None, confirmed: Callable[[], None] | None = None) -> dict:
    name = p["name"]
    before = running_config(name, conn, v)
    seqs = read_acls(name, conn, v, before, p["intended"])
    lines = delta(before, p["intended"], v, p["managed"], seqs)
    result = {"failed": False, "changed": False, "commands": lines, "before_sha256": checksum(before),
              "after_sha256": "", "before_backup": "", "after_backup": ""}
    if check_mode and v.acl:  # nothing is backed up: the policy check of what runs reads this (no secrets in it)
        result["policy_view"] = policy_view(before, v.acl, seqs)
    files_changed = bool(p.get("intended_file")) and write_report(p["intended_file"], p["intended"], check_mode)
    if p.get("backup_dir"):
        result["before_backup"] = keep_backup(p["backup_dir"], name, before, p["keep"], check_mode).path
    if not lines:
        result.update(after_sha256=result["before_sha256"], after_backup=result["before_backup"])
        return _with_facts(p, conn, v, check_mode, result, files_changed)
    result["diff"] = {"before_header": f"{name} running-config", "after_header": f"{name}: the delta to send",
                      "prepared": "\n".join(lines) + "\n"}
    if check_mode:
        return _with_facts(p, conn, v, check_mode, result, True)
    reason = hold() if hold else ""
    if reason:  # nothing sent; configure() stops a timer armed early
        return {**result, "held": True, "msg": f"{name}: not changed: {reason}"}
    armed = early.take() if early else None
    work, reader = (armed[0], conn) if armed else (conn, None)
    try:
        return _change(p, work, reader, v, lines, result, armed[1] if armed else None, confirmed)
    finally:
        if armed:
            disconnect(work)


def _change(p: dict, conn: Any, reader: Any, v: Vendor, lines: list[str], result: dict,
            rollback_to: str | None, confirmed: Callable[[], None] | None = None) -> dict:
    """Send the delta on `conn` (armed already when rollback_to is given), verify, confirm, save, back up and
    record; on a failure restore the rollback point. `reader`, a second session if there is one, reads the
    facts while the configuration is saved."""
    name = p["name"]
    failure = None
    try:
        if rollback_to is None:
            rollback_to = _prepare_rollback(p, conn, v)
        push(name, conn, lines, v, in_config_mode=p["confirm_minutes"] > 0 and v.commit_confirm is not None)
        if v.two_stage:  # no commit ID to roll back to: a trial (its shortest) is the rollback point
            trial = p["confirm_minutes"] or (0 if rollback_to else 1)
            commit(name, conn, v, trial)
        after = running_config(name, conn, v)
        left = delta(after, p["intended"], v, p["managed"], read_acls(name, conn, v, after, p["intended"]))
        if left:
            failure = NetdevError(name, "verify", f"after the change the device still differs from the intent "
                                                  f"by {len(left)} line(s): {'; '.join(left[:5])}")
    except NetdevError as exc:
        failure = exc
    if failure is not None:
        if rollback_to is None:  # nothing reached the configuration: no checkpoint was taken, none is needed
            return {**result, "failed": True, "field": failure.field, "msg": f"{failure}. Nothing was changed."}
        return {**result, **_roll_back(p, conn, v, failure, result["before_sha256"], rollback_to)}
    if p["confirm_minutes"] or (v.two_stage and not rollback_to):
        confirm(name, conn, v)
    if confirmed:
        confirmed()
    facts = None
    if p["save"] and p.get("facts_file"):
        facts = _save_reading_facts_aside(p, conn, v, reader)
    elif p["save"]:
        save(name, conn)
    if p.get("backup_dir"):
        result["after_backup"] = keep_backup(p["backup_dir"], name, after, p["keep"]).path
    result["after_sha256"] = checksum(after)
    if p.get("change_dir"):
        stamp = os.path.basename(result["after_backup"]).removesuffix(".cfg") or result["after_sha256"][:12]
        write_report(os.path.join(p["change_dir"], f"{name}-{stamp}.json"), {
            "device": name, "commands": lines, "operator": p.get("operator") or {},
            "before": {"sha256": result["before_sha256"], "backup": result["before_backup"]},
            "after": {"sha256": result["after_sha256"], "backup": result["after_backup"]}})
    return _with_facts(p, conn, v, False, result, True, facts)


# How long a save may take before the facts are read on a second session meanwhile (see below).
FACTS_ASIDE_AFTER = 0.5


def _save_reading_facts_aside(p: dict, conn: Any, v: Vendor, reader: Any = None) -> tuple[dict, list[str]] | None:
    """Save; meanwhile read the device's facts on a second session (building the startup configuration takes
    seconds on real gear, and a show command on another vty line does not wait for it): on `reader` when the
    change has one open, else on a new login once the save takes over FACTS_ASIDE_AFTER. Returns those facts,
    or None when the save was quick or the second session could not read them: the caller then reads them on
    its own session, without a second login."""
    saved, box = threading.Event(), {}

    def aside() -> None:
        if reader is not None:
            second = reader
        elif saved.wait(FACTS_ASIDE_AFTER):
            return
        else:
            try:
                second = connect(**{**p, "retries": 1})
            except NetdevError:
                return
        try:
            box["facts"] = read_facts(p["name"], second, v, p["vendor"])
        except (NetdevError, OSError, EOFError, ReadTimeout):
            pass
        finally:
            if second is not reader:
                disconnect(second)

    thread = threading.Thread(target=aside, name=f"{p['name']}-facts", daemon=True)
    thread.start()
    try:
        save(p["name"], conn)
    finally:
        saved.set()
    thread.join()
    return box.get("facts")


def _prepare_rollback(p: dict, conn: Any, v: Vendor) -> str | None:
    """Make sure the device holds its pre-change configuration before anything is sent; returns that file.

    Under commit-confirm the device archives it itself as it arms the timer (on IOS `configure terminal revert
    timer`: flash:<archive path>-N), and the session is left in configuration mode. Without commit-confirm, or
    when the device made no archive (a timer left pending by an earlier, unconfirmed change keeps the older
    archive), an explicit checkpoint is taken first (`copy running-config flash:<checkpoint>`)."""
    name = p["name"]
    if v.two_stage:
        return last_commit(name, conn, v)  # '' (no commit yet): the commit trial is the rollback point
    if p["confirm_minutes"] and v.commit_confirm:
        try:
            archived = arm(name, conn, v, p["confirm_minutes"])
        except NetdevError:
            _leave_config_mode(conn)
            raise
        if archived:
            return archived
        _leave_config_mode(conn)
        checkpoint(name, conn, v, p["checkpoint"])
        arm(name, conn, v, p["confirm_minutes"])
        return p["checkpoint"]
    checkpoint(name, conn, v, p["checkpoint"])
    return p["checkpoint"]


def _roll_back(p: dict, conn: Any, v: Vendor, failure: NetdevError, before_sha256: str, rollback_to: str) -> dict:
    """Restore the checkpoint after a failed push or verification and prove it by checksum."""
    name, trouble = p["name"], ""
    try:
        restore(name, conn, v, rollback_to)
        if v.two_stage and (p["confirm_minutes"] or not rollback_to):
            confirm(name, conn, v, strict=False)  # stop a trial the change left running (on the restored state)
        if p["confirm_minutes"] and not v.two_stage:
            confirm(name, conn, v, strict=False)  # the pre-change configuration is back: stop the timer
    except NetdevError as exc:
        trouble = f" ({exc.message})"
    try:
        now = checksum(running_config(name, conn, v))
    except NetdevError as exc:
        timer = (f"the device's commit-confirm timer rolls the change back within {p['confirm_minutes']} "
                 "minute(s), and " if p["confirm_minutes"] else "")
        return {"failed": True, "changed": True, "restored": False, "field": failure.field,
                "msg": f"{failure}. The restore could not run ({exc.message}): {timer}the next run reads the device "
                       "again, and completes the change or restores it."}
    proven = now == before_sha256
    return {"failed": True, "changed": not proven, "restored": proven, "field": failure.field, "after_sha256": now,
            "msg": f"{failure}. " + (
                f"The pre-change configuration was restored {_point(v, rollback_to)} (SHA-256 {now[:12]} "
                "equals the pre-change one)."
                if proven else f"RESTORE NOT PROVEN{trouble}: the running configuration (SHA-256 {now[:12]}) "
                               f"differs from the pre-change one ({before_sha256[:12]}); restore the backup by hand.")}


def _point(v: Vendor, rollback_to: str) -> str:
    """The rollback point in words: a file on flash:, a VRP8 commit ID, or the trial itself."""
    if v.two_stage:
        return (f"by `rollback configuration to commit-id {rollback_to}`" if rollback_to
                else "by dropping the candidate or aborting the commit trial (no commit ID before the change)")
    return f"from flash:{rollback_to}"


def _with_facts(p: dict, conn: Any, v: Vendor, check_mode: bool, result: dict, changed: bool,
                read: tuple[dict, list[str]] | None = None) -> dict:
    """Keep the device's facts (facts_file): those `read` already, or read on this session; the result with
    `changed` set."""
    if p.get("facts_file"):
        facts, unsupported = read or read_facts(p["name"], conn, v, p["vendor"])
        record = {"device": p["name"], "vendor": p["vendor"], "role": p.get("role", ""), "unsupported": unsupported,
                  **facts_summary(facts)}
        changed = write_report(p["facts_file"], record, check_mode) or changed
    return {**result, "changed": changed}
