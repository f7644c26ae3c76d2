"""Zone segmentation in the network: the ACLs that enforce the flow policy, and the offline check that proves it.

Pure Python (standard library and facility.py), so preflight and CI run it with no device:

* `zone_acl()` derives each zone's inbound SVI ACL from facility.py's flow policy: a zone's hosts may open
  connections only to the zones the policy allows (management may reach every zone, to administer it);
  replies to connections opened from another zone pass as `tcp ... established`; everything else is denied
  and logged.
* `reachability()` reads rendered (or running) IOS/EOS-style configurations, finds each zone's SVI and the
  ACL applied inbound on it, and works out, for every pair of zones, whether a host of one can open a new
  connection to the other, and which ACL line decides it.
* `check()` compares that matrix with the policy and names the device, the ACL, the line and the flow of
  every difference.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ansible_collections.jinbao.dc.plugins.module_utils.policy.facility import ZONES, flow_allowed

ACL_NAME = "ZONE-{zone}-IN"


def network_flow_allowed(source: str, destination: str) -> bool:
    """The flow policy as the network enforces it: facility.py's data flows, plus management, which may open
    connections to every zone (to administer it) and receives none from the data zones."""
    if source == destination:
        return True
    if source == "management":
        return True
    if destination == "management":
        return False
    return flow_allowed(source, destination)


def _wildcard(net: ipaddress.IPv4Network) -> str:
    return f"{net.network_address} {net.hostmask}"


def zone_acl(zone: str, networks: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The entries of `zone`'s inbound SVI ACL, in order (IOS extended-ACL syntax, no sequence numbers)."""
    own = ipaddress.ip_network(networks[zone]["subnet"])
    lines = [f"permit ip {_wildcard(own)} {_wildcard(own)}"]
    for other in sorted(networks, key=ZONES.index):
        if other == zone:
            continue
        peer = ipaddress.ip_network(networks[other]["subnet"])
        if network_flow_allowed(zone, other):
            lines.append(f"permit ip {_wildcard(own)} {_wildcard(peer)}")
        elif network_flow_allowed(other, zone):
            lines.append(f"permit tcp {_wildcard(own)} {_wildcard(peer)} established")
    lines.append("deny ip any any log")
    return lines


def zone_acls(networks: Mapping[str, Mapping[str, Any]],
              exceptions: Mapping[str, Iterable[str]] | None = None) -> dict[str, dict[str, Any]]:
    """zone -> {name, entries} for every zone in `networks`. `exceptions` (network_acl_exceptions) adds a
    zone's approved extra entries just before its final deny; the policy check judges them like the rest."""
    out = {}
    for zone in networks:
        entries = zone_acl(zone, networks)
        extra = [str(e) for e in (exceptions or {}).get(zone) or []]
        for e in extra:
            try:
                parse_entry(0, e)  # an unreadable exception is an error here, not on the device
            except ValueError as exc:
                raise ValueError(f"network_acl_exceptions: {zone}: {exc}") from None
        out[zone] = {"name": ACL_NAME.format(zone=zone.upper()), "entries": entries[:-1] + extra + entries[-1:]}
    return out


# --- reading configurations ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    line: int          # 1-based position in the ACL
    text: str
    action: str
    protocol: str
    source: ipaddress.IPv4Network
    destination: ipaddress.IPv4Network
    established: bool
    seq: int | None = None  # the device's sequence number, where the configuration shows it

_ANY = ipaddress.ip_network("0.0.0.0/0")


def _address(tokens: list[str]) -> tuple[ipaddress.IPv4Network, list[str]]:
    head = tokens[0]
    if head == "any":
        return _ANY, tokens[1:]
    if head == "host":
        return ipaddress.ip_network(f"{tokens[1]}/32"), tokens[2:]
    if "/" in head:
        return ipaddress.ip_network(head, strict=False), tokens[1:]
    wildcard = ipaddress.ip_address(tokens[1])
    mask = ipaddress.ip_address(int(wildcard) ^ 0xFFFFFFFF)
    return ipaddress.ip_network(f"{head}/{mask}", strict=False), tokens[2:]


def _skip_ports(tokens: list[str]) -> list[str]:
    if tokens and tokens[0] in ("eq", "neq", "gt", "lt"):
        return tokens[2:]
    if tokens and tokens[0] == "range":
        return tokens[3:]
    return tokens


# --- VRP and Comware rules ----------------------------------------------------------------------------------
# `rule [N] permit|deny PROTO [source A W] [destination B W] [source-port OP P] [destination-port OP P]
#  [tcp-flag established (VRP8) | established (Comware 7)] [logging]`: a missing source or destination is any,
# wildcard 0 is one host. The same order as the devices print (lab/netdevices/vrpcomware/config.py).
_VENDOR_ESTABLISHED = {"huawei": "tcp-flag established", "h3c": "established"}
_VENDOR_WORDS = ("source", "destination", "source-port", "destination-port", "tcp-flag", "established", "logging",
                 "fragment")


def vendor_entry(text: str, vendor: str) -> str:
    """An IOS-syntax entry (zone_acl) in the vendor's rule syntax, without the rule number: `cisco`/`arista`
    unchanged; `huawei` (VRP8) and `h3c` (Comware 7) as `permit tcp source A W destination B W ...`."""
    if vendor not in _VENDOR_ESTABLISHED:
        return text
    e = parse_entry(0, text)
    tokens = text.split()
    parts = [e.action, e.protocol]
    for key, net in (("source", e.source), ("destination", e.destination)):
        if net.prefixlen:
            parts.append(f"{key} {net.network_address} {'0' if net.prefixlen == 32 else net.hostmask}")
    src_port, dst_port = _port_sides(tokens)
    for key, words in (("source-port", src_port), ("destination-port", dst_port)):
        if words:
            parts.append(" ".join([key, *words]))
    if e.established:
        parts.append(_VENDOR_ESTABLISHED[vendor])
    if tokens[-1] in ("log", "log-input"):
        parts.append("logging")
    return " ".join(parts)


def _port_sides(tokens: list[str]) -> tuple[list[str], list[str]]:
    """The source and destination port operators of an IOS entry's tokens (after action and protocol)."""
    rest = tokens[2:]
    sides: list[list[str]] = []
    for _ in range(2):
        if not rest:
            sides.append([])
            continue
        rest = rest[1:] if rest[0] == "any" else rest[2:] if rest[0] == "host" or "/" not in rest[0] else rest[1:]
        if rest and rest[0] in ("eq", "neq", "gt", "lt", "range"):
            n = 3 if rest[0] == "range" else 2
            sides.append(rest[:n])
            rest = rest[n:]
        else:
            sides.append([])
    return sides[0], sides[1]


def vendor_acls(acls: Mapping[str, Mapping[str, Any]], vendor: str) -> dict[str, dict[str, Any]]:
    """zone_acls() with each entry in the vendor's syntax (vendor_entry)."""
    return {zone: {**acl, "entries": [vendor_entry(e, vendor) for e in acl["entries"]]} for zone, acl in acls.items()}


def _vendor_rule(text: str) -> list[str] | None:
    """A VRP/Comware rule body's tokens in IOS order (`permit tcp A W B W established log`); None if not one."""
    tokens = text.split()
    if tokens and tokens[0] == "rule":
        tokens = tokens[1:]
    seq = [tokens.pop(0)] if tokens and tokens[0].isdigit() else []
    if len(tokens) < 2 or tokens[0] not in ("permit", "deny"):
        return None
    parts = {"source": ["any"], "destination": ["any"], "source-port": [], "destination-port": []}
    flags: list[str] = []
    i = 2
    while i < len(tokens):
        key = tokens[i]
        if key in ("source", "destination"):
            if tokens[i + 1:i + 2] == ["any"]:
                i += 2
                continue
            address, wildcard = tokens[i + 1], tokens[i + 2] if i + 2 < len(tokens) else "0"
            parts[key] = ["host", address] if wildcard in ("0", "0.0.0.0") else [address, wildcard]
            i += 3
        elif key in ("source-port", "destination-port"):
            n = 3 if tokens[i + 1] == "range" else 2
            parts[key] = tokens[i + 1:i + 1 + n]
            i += 1 + n
        elif key == "tcp-flag":
            if tokens[i + 1:i + 2] == ["established"]:
                flags.append("established")
            i += 2
        elif key == "established":
            flags.append("established")
            i += 1
        elif key == "logging":
            flags.append("log")
            i += 1
        else:
            i += 1  # fragment, time-range, vpn-instance ...: not what the zone check reads
    return [*seq, tokens[0], tokens[1], *parts["source"], *parts["source-port"], *parts["destination"],
            *parts["destination-port"], *flags]


def parse_entry(position: int, text: str) -> Entry:
    """One ACL entry (`[seq] permit|deny proto src [ports] dst [ports] [established] [log]`), or a VRP/Comware
    rule (`[rule] [N] permit|deny proto [source A W] [destination B W] ... [tcp-flag established] [logging]`)."""
    tokens = text.split()
    body = tokens[1:] if tokens[:1] == ["rule"] else tokens
    body = body[1:] if body[:1] and body[0].isdigit() else body
    vendor = tokens[:1] == ["rule"] or len(body) == 2 or (len(body) > 2 and body[2] in _VENDOR_WORDS)
    if vendor:
        tokens = _vendor_rule(text) or tokens
    seq = None
    if tokens and tokens[0].isdigit():
        seq, tokens = int(tokens[0]), tokens[1:]
    if len(tokens) < 4 or tokens[0] not in ("permit", "deny"):
        raise ValueError(f"not an extended ACL entry: {text!r}")
    action, protocol = tokens[0], tokens[1]
    try:
        source, rest = _address(tokens[2:])
        rest = _skip_ports(rest)
        destination, rest = _address(rest)
    except (IndexError, ValueError):
        raise ValueError(f"not an extended ACL entry: {text!r}") from None
    rest = _skip_ports(rest)
    shown = " ".join(body) if vendor else " ".join(tokens)  # the entry as the device writes it
    return Entry(position, shown, action, protocol, source, destination, "established" in rest, seq)


@dataclass
class Svi:
    vlan: int
    network: ipaddress.IPv4Network | None
    acl_in: str | None


_SVI = re.compile(r"^interface (?:[Vv]lan\s*|Vlanif|Vlan-interface)(\d+)$")
_ACL = re.compile(r"^(?:ip access-list (?:extended )?(\S+)|acl (?:number |name |advanced (?:name )?)?(\S+)"
                  r"(?: advance| \d+)?)$")
_BIND_IN = re.compile(r"^(?:ip access-group (\S+) in|traffic-filter inbound acl (?:name )?(\S+)"
                      r"|packet-filter (?:name )?(\S+) inbound)$")


def parse_config(text: str) -> tuple[dict[int, Svi], dict[str, list[Entry]]]:
    """The SVIs (VLAN interfaces with their address and inbound ACL) and the extended ACLs of a config: IOS/EOS
    (`interface VlanN`, `ip access-group X in`, `ip access-list extended X`), Huawei VRP (`interface VlanifN`,
    `traffic-filter inbound acl [name] X`, `acl number N` / `acl name X advance`) and H3C Comware
    (`interface Vlan-interfaceN`, `packet-filter [name] X inbound`, `acl advanced [name] X`), whose rules
    `rule N permit|deny ...` parse_entry reads. `#` separates sections on VRP and Comware."""
    svis: dict[int, Svi] = {}
    acls: dict[str, list[Entry]] = {}
    section: tuple[str, Any] | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip() or line.strip() in ("!", "#"):
            continue
        if not line.startswith(" "):
            section = None
            m = _SVI.match(line)
            if m:
                svis[int(m.group(1))] = Svi(int(m.group(1)), None, None)
                section = ("svi", int(m.group(1)))
                continue
            m = _ACL.match(line)
            if m:
                name = m.group(1) or m.group(2)
                acls[name] = []
                section = ("acl", name)
            continue
        body = line.strip()
        if section and section[0] == "svi":
            svi = svis[section[1]]
            m = re.match(r"^ip address (\S+)(?: (\S+))?$", body)
            if m:
                addr = m.group(1) if "/" in m.group(1) else f"{m.group(1)}/{m.group(2)}"
                svi.network = ipaddress.ip_interface(addr).network
            m = _BIND_IN.match(body)
            if m:
                svi.acl_in = next(g for g in m.groups() if g)
        elif section and section[0] == "acl" and _is_entry(body):
            acls[section[1]].append(parse_entry(len(acls[section[1]]) + 1, body))
    return svis, acls


def _is_entry(body: str) -> bool:
    """An ACL line that is a rule (not a remark, description or step setting)."""
    words = [w for w in body.split()[:3] if w != "rule" and not w.isdigit()]
    return bool(words) and words[0] in ("permit", "deny")


def _decide(entries: Iterable[Entry], src: ipaddress.IPv4Network,
            dst: ipaddress.IPv4Network) -> tuple[bool, Entry | None]:
    """Whether some host of `src` can open a new connection to some host of `dst`, and the deciding entry.

    First match, read conservatively: a permit that overlaps the pair grants reachability; a deny decides
    only when it covers the whole pair for every protocol; `established` entries admit replies, never a new
    connection. No entry matching means the implicit deny."""
    for e in entries:
        if e.established or not (e.source.overlaps(src) and e.destination.overlaps(dst)):
            continue
        if e.action == "permit":
            return True, e
        if e.protocol == "ip" and src.subnet_of(e.source) and dst.subnet_of(e.destination):
            return False, e
    return False, None


def reachability(configs: Mapping[str, str], networks: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Per device that routes for a zone (has an SVI in its subnet), matrix[src][dst] with the deciding line.

    Returns {"devices": {device: {src: {dst: {"reachable", "acl", "line", "entry"}}}}, "matrix": merged}, where
    the merged matrix says reachable if any router of the source zone lets the flow through."""
    subnets = {z: ipaddress.ip_network(n["subnet"]) for z, n in networks.items()}
    devices: dict[str, Any] = {}
    for device, text in sorted(configs.items()):
        svis, acls = parse_config(text)
        rows: dict[str, Any] = {}
        for src, src_net in subnets.items():
            svi = next((s for s in svis.values() if s.network is not None and s.network.overlaps(src_net)), None)
            if svi is None:
                continue
            row = {}
            for dst, dst_net in subnets.items():
                if dst == src:
                    continue
                if svi.acl_in is None or svi.acl_in not in acls:
                    row[dst] = {"reachable": True, "acl": svi.acl_in, "line": None,
                                "entry": f"interface Vlan{svi.vlan} has no inbound ACL" if svi.acl_in is None
                                else f"ACL {svi.acl_in} on interface Vlan{svi.vlan} is not defined"}
                    continue
                if not acls[svi.acl_in]:  # IOS: an applied ACL without entries lets everything through
                    row[dst] = {"reachable": True, "acl": svi.acl_in, "line": None,
                                "entry": f"ACL {svi.acl_in} on interface Vlan{svi.vlan} has no entries"}
                    continue
                ok, entry = _decide(acls[svi.acl_in], src_net, dst_net)
                row[dst] = {"reachable": ok, "acl": svi.acl_in, "line": entry.line if entry else None,
                            "seq": entry.seq if entry else None, "entry": entry.text if entry else "(implicit deny)"}
            rows[src] = row
        if rows:
            devices[device] = rows
    merged = {s: {d: any(rows.get(s, {}).get(d, {}).get("reachable") for rows in devices.values())
                  for d in subnets if d != s} for s in subnets}
    return {"devices": devices, "matrix": merged}


def check(configs: Mapping[str, str], networks: Mapping[str, Mapping[str, Any]],
          routers: Iterable[str]) -> tuple[dict[str, Any], list[str]]:
    """The reachability and every difference from the policy, one line each naming device, ACL line and flow.
    Each of `routers` (the core pair) must route every zone."""
    result = reachability(configs, networks)
    problems = []
    for device in sorted(routers):
        rows = result["devices"].get(device, {})
        for zone in networks:
            if zone not in rows:
                problems.append(f"{device}: zone {zone}: no SVI in {networks[zone]['subnet']}")
    for device, rows in result["devices"].items():
        for src, row in rows.items():
            for dst, cell in row.items():
                want = network_flow_allowed(src, dst)
                if cell["reachable"] == want:
                    continue
                seq = f" (sequence {cell['seq']})" if cell.get("seq") is not None else ""
                where = (f"{cell['acl']} line {cell['line']}{seq} '{cell['entry']}'" if cell["line"]
                         else f"{cell['acl'] or '-'}: {cell['entry']}")
                verdict = ("reachable, but the flow policy forbids it" if cell["reachable"]
                           else "blocked, but the flow policy allows it")
                problems.append(f"{device}: {where}: {src}→{dst} is {verdict}")
    return result, problems


def policy_matrix(zones: Iterable[str]) -> dict[str, dict[str, bool]]:
    zones = list(zones)
    return {s: {d: network_flow_allowed(s, d) for d in zones if d != s} for s in zones}


__all__ = ["ACL_NAME", "check", "network_flow_allowed", "parse_config", "policy_matrix", "reachability", "vendor_acls",
           "vendor_entry",
           "zone_acl", "zone_acls"]
