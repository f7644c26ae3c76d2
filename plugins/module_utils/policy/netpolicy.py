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


def parse_entry(position: int, text: str) -> Entry:
    """One ACL entry (`[seq] permit|deny proto src [ports] dst [ports] [established] [log]`)."""
    tokens = text.split()
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
    return Entry(position, " ".join(tokens), action, protocol, source, destination, "established" in rest, seq)


@dataclass
class Svi:
    vlan: int
    network: ipaddress.IPv4Network | None
    acl_in: str | None


def parse_config(text: str) -> tuple[dict[int, Svi], dict[str, list[Entry]]]:
    """The SVIs (VLAN interfaces with their address and inbound ACL) and the extended ACLs of a config."""
    svis: dict[int, Svi] = {}
    acls: dict[str, list[Entry]] = {}
    section: tuple[str, Any] | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip() or line.strip() == "!":
            continue
        if not line.startswith(" "):
            section = None
            m = re.match(r"^interface [Vv]lan\s*(\d+)$", line)
            if m:
                svis[int(m.group(1))] = Svi(int(m.group(1)), None, None)
                section = ("svi", int(m.group(1)))
                continue
            m = re.match(r"^ip access-list (?:extended )?(\S+)$", line)
            if m:
                acls[m.group(1)] = []
                section = ("acl", m.group(1))
            continue
        body = line.strip()
        if section and section[0] == "svi":
            svi = svis[section[1]]
            m = re.match(r"^ip address (\S+)(?: (\S+))?$", body)
            if m:
                addr = m.group(1) if "/" in m.group(1) else f"{m.group(1)}/{m.group(2)}"
                svi.network = ipaddress.ip_interface(addr).network
            m = re.match(r"^ip access-group (\S+) in$", body)
            if m:
                svi.acl_in = m.group(1)
        elif section and section[0] == "acl" and not body.startswith("remark"):
            acls[section[1]].append(parse_entry(len(acls[section[1]]) + 1, body))
    return svis, acls


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


__all__ = ["ACL_NAME", "check", "network_flow_allowed", "parse_config", "policy_matrix", "reachability",
           "zone_acl", "zone_acls"]
