"""The configuration a lab VRP8 or Comware 7 switch holds: a tree of command lines per view, as the device
keeps and prints it (`display current-configuration`), plus the VLAN set behind `vlan batch` / `vlan N to M`.

The tree is the state: the CLI (lab/netdevices/vrpcomware/cli.py) edits it line by line, `display
current-configuration` renders it in the vendor's canonical order, and the saved configuration, commit points and
checkpoint files are that rendering, read back by `parse()`. So every feature the CLI accepts round-trips
through the text a real device would save.
"""

from __future__ import annotations

import copy
import ipaddress
import re

VRP, COMWARE = "huawei", "h3c"
# lab_model -> vendor family (netdev_vendor): the labctl kinds vrp8 and comware7 (service.py)
MODELS = {"vrp8": VRP, "comware7": COMWARE}


class Node:
    """One configuration line and the lines of its view (an `interface`, `acl`, `ip vpn-instance` ...)."""

    __slots__ = ("children", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.children: list[Node] = []

    def child(self, text: str) -> Node | None:
        return next((c for c in self.children if c.text == text), None)

    def ensure(self, text: str) -> Node:
        node = self.child(text)
        if node is None:
            node = Node(text)
            self.children.append(node)
        return node

    def remove_where(self, test) -> int:
        before = len(self.children)
        self.children = [c for c in self.children if not test(c.text)]
        return before - len(self.children)

    def set_keyed(self, key: str, text: str) -> None:
        """Put `text` in place of the line(s) that start with `key` (a setting that has one value)."""
        self.remove_where(lambda t: t == key or t.startswith(key + " "))
        self.children.append(Node(text))


class Config:
    """A device's configuration: the top-level lines (sections) and the VLANs that exist."""

    def __init__(self, vendor: str, ports: list[str]) -> None:
        self.vendor = vendor
        self.ports = list(ports)
        self.root = Node("")
        self.vlans: set[int] = {1}
        for port in ports:
            self.root.children.append(Node(f"interface {port}"))

    def copy(self) -> Config:
        return copy.deepcopy(self)

    # --- lookups -----------------------------------------------------------------------------------------
    def sysname(self) -> str:
        node = next((c for c in self.root.children if c.text.startswith("sysname ")), None)
        return node.text.split(None, 1)[1] if node else ("HUAWEI" if self.vendor == VRP else "H3C")

    def section(self, text: str) -> Node | None:
        return self.root.child(text)

    def vpn_instances(self) -> list[str]:
        return [c.text.split()[2] for c in self.root.children if c.text.startswith("ip vpn-instance ")]

    def acls(self) -> list[Node]:
        return [c for c in self.root.children if c.text.startswith("acl ")]

    # --- rendering ---------------------------------------------------------------------------------------
    def render(self, header: list[str] | None = None) -> str:
        """`display current-configuration`: sections between `#` lines, in the vendor's order, `return` last.

        VRP8 prints `vlan batch` for its VLANs and a `vlan N` section only when it holds something; Comware 7
        prints every VLAN as its own section and indents its global one-liners by one space (` sysname X`), as
        in its configuration files (cli.py [7]).
        """
        out = list(header or [])
        blocks = []
        tops = sorted(self.root.children, key=self._top_key)
        if self.vendor == VRP:
            simple = [c for c in tops if not c.children and not _always_section(c.text)]
            sections = [c for c in tops if c.children or _always_section(c.text)]
            head = [c.text for c in simple if self._top_key(c)[0] < 2]
            tail = [c.text for c in simple if self._top_key(c)[0] >= 2]
            batch = vlan_ranges(sorted(v for v in self.vlans if v != 1))
            if batch:
                head.insert(1 if head and head[0].startswith("sysname") else 0, f"vlan batch {batch}")
            blocks += [[line] for line in head]
            blocks += [_lines(c) for c in sections if not c.text.startswith("vlan ") or c.children]
            blocks += [[line] for line in tail]
        else:
            simple = [c for c in tops if not c.children and not _always_section(c.text)]
            blocks += [[f" {c.text}"] for c in simple if self._top_key(c)[0] < 2]
            vlan_nodes = {c.text: c for c in tops if c.text.startswith("vlan ")}
            for number in sorted(self.vlans):
                blocks.append(_lines(vlan_nodes.get(f"vlan {number}") or Node(f"vlan {number}")))
            blocks += [_lines(c) for c in tops if (c.children or _always_section(c.text))
                       and not c.text.startswith("vlan ")]
            blocks += [[f" {c.text}"] for c in simple if self._top_key(c)[0] >= 2]
        for block in blocks:
            out.append("#")
            out += block
        out += ["#", "return"]
        return "\n".join(out) + "\n"

    def _top_key(self, node: Node) -> tuple:
        text = node.text
        order = (("sysname ", 0), ("lldp ", 1), ("vlan ", 2), ("ip vpn-instance ", 3), ("acl ", 4),
                 ("interface Vlanif", 5), ("interface Vlan-interface", 5), ("interface ", 6), ("ip route-static", 7))
        rank = next((r for prefix, r in order if text.startswith(prefix)), 8)
        if rank == 6 and text.split(None, 1)[1] in self.ports:
            return rank, self.ports.index(text.split(None, 1)[1]), ()
        return rank, 0, natural(text)

    # --- parsing -----------------------------------------------------------------------------------------
    def load(self, text: str) -> None:
        """Make this configuration the one a rendered text holds (saved configuration, commit point, file)."""
        self.root = Node("")
        self.vlans = {1}
        for port in self.ports:
            self.root.children.append(Node(f"interface {port}"))
        stack: list[tuple[int, Node]] = [(-1, self.root)]
        for raw in text.splitlines():
            line = raw.rstrip()
            if line.strip() == "#":
                stack = stack[:1]  # `#` closes every view: the next line is a global one
                continue
            if not line.strip() or line.lstrip().startswith(("#", "!")) or line.strip() == "return":
                continue
            depth = len(line) - len(line.lstrip())
            body = line.strip()
            if self.vendor == COMWARE and depth == 1 and stack[-1][0] < 0:
                depth = 0  # Comware prints global one-liners indented by one: ` sysname X`
            while stack[-1][0] >= depth:
                stack.pop()
            parent = stack[-1][1]
            if parent is self.root:
                m = re.fullmatch(r"vlan batch (.+)", body)
                if m:
                    self.vlans |= set(parse_vlan_list(m.group(1)))
                    continue
                m = re.fullmatch(r"vlan (\d+)", body)
                if m:
                    self.vlans.add(int(m.group(1)))
                if body.startswith("version ") and self.vendor == COMWARE:
                    continue
            node = parent.ensure(body)
            stack.append((depth, node))


def _always_section(text: str) -> bool:
    return text.startswith(("interface ", "acl ", "ip vpn-instance ", "vlan "))


def _lines(node: Node, depth: int = 0) -> list[str]:
    out = [" " * depth + node.text]
    for c in sorted(node.children, key=child_key):
        out += _lines(c, depth + 1)
    return out


CHILD_ORDER = ("description ", "ipv4-family", "route-distinguisher ", "vpn-target ", "step ", "rule ",
               "ip binding vpn-instance ", "ip address ", "vrrp vrid ", "traffic-filter ", "packet-filter ",
               "port link-type ", "port default vlan ", "port access vlan ", "port trunk ", "shutdown")


def child_key(node: Node) -> tuple:
    text = node.text
    rank = next((i for i, prefix in enumerate(CHILD_ORDER) if text.startswith(prefix)), len(CHILD_ORDER))
    if text.startswith("ip address ") and text.endswith(" sub"):
        return rank, 1, natural(text)
    if text.startswith("vrrp vrid "):
        parts = text.split()
        sub = ("virtual-ip", "priority", "preempt-mode").index(parts[3]) if parts[3] in (
            "virtual-ip", "priority", "preempt-mode") else 3
        return rank, int(parts[2]), (sub, natural(text))
    return rank, 0, natural(text)


def natural(text: str) -> tuple:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", text) if p)


# --- values ------------------------------------------------------------------------------------------------
def parse_vlan_list(text: str) -> list[int]:
    """`10 20 30 to 40` (VRP `vlan batch`, Comware `port trunk permit vlan`) -> the VLAN IDs; ValueError."""
    tokens = text.split()
    out: list[int] = []
    i = 0
    while i < len(tokens):
        if not tokens[i].isdigit() or not 1 <= int(tokens[i]) <= 4094:
            raise ValueError(i)
        start = int(tokens[i])
        if i + 1 < len(tokens) and tokens[i + 1] == "to":
            if i + 2 >= len(tokens) or not tokens[i + 2].isdigit() or not start <= int(tokens[i + 2]) <= 4094:
                raise ValueError(i + 2)
            out += range(start, int(tokens[i + 2]) + 1)
            i += 3
        else:
            out.append(start)
            i += 1
    return out


def vlan_ranges(vlans: list[int]) -> str:
    """[10, 20, 30, 31, 32] -> `10 20 30 to 32`, as VRP prints `vlan batch`."""
    parts, run = [], []
    for v in vlans:
        if run and v == run[-1] + 1:
            run.append(v)
            continue
        if run:
            parts.append(str(run[0]) if len(run) == 1 else f"{run[0]} to {run[-1]}")
        run = [v]
    if run:
        parts.append(str(run[0]) if len(run) == 1 else f"{run[0]} to {run[-1]}")
    return " ".join(parts)


def is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return text.count(".") == 3


def mask_text(token: str) -> str | None:
    """A mask as dotted quad or prefix length -> the dotted quad the device prints; None: not a mask."""
    if token.isdigit() and 0 <= int(token) <= 32:
        return str(ipaddress.IPv4Network(f"0.0.0.0/{token}").netmask)
    if is_ipv4(token):
        try:
            ipaddress.IPv4Network(f"0.0.0.0/{token}")
        except ValueError:
            return None
        return token
    return None


PROTOCOLS = ("ip", "tcp", "udp", "icmp", "gre", "ospf", "igmp", "ipinip")


class RuleError(Exception):
    """A bad `rule` line: the index of the token the caret goes under, and whether the line ended early."""

    def __init__(self, index: int, incomplete: bool = False) -> None:
        super().__init__(index)
        self.index = index
        self.incomplete = incomplete


def parse_rule_body(tokens: list[str], i: int) -> str:
    """`permit ip source A W destination B W ...` from tokens[i] on -> the text the device prints."""
    if i >= len(tokens):
        raise RuleError(i, True)
    action = tokens[i]
    if action not in ("permit", "deny"):
        raise RuleError(i)
    i += 1
    if i >= len(tokens):
        raise RuleError(i, True)
    proto = tokens[i]
    if not (proto in PROTOCOLS or (proto.isdigit() and int(proto) <= 255)):
        raise RuleError(i)
    i += 1
    parts: dict[str, str] = {}
    while i < len(tokens):
        key = tokens[i]
        if key in ("source", "destination"):
            if i + 1 >= len(tokens):
                raise RuleError(i + 1, True)
            if tokens[i + 1] == "any":
                i += 2
                continue
            if not is_ipv4(tokens[i + 1]):
                raise RuleError(i + 1)
            if i + 2 >= len(tokens):
                raise RuleError(i + 2, True)
            wildcard = tokens[i + 2]
            if wildcard in ("0", "0.0.0.0"):
                wildcard = "0"
            elif not is_ipv4(wildcard):
                raise RuleError(i + 2)
            net = int(ipaddress.IPv4Address(tokens[i + 1])) & ~int(ipaddress.IPv4Address(
                "0.0.0.0" if wildcard == "0" else wildcard)) & 0xFFFFFFFF
            parts[key] = f"{key} {ipaddress.IPv4Address(net)} {wildcard}"
            i += 3
        elif key in ("source-port", "destination-port") and proto in ("tcp", "udp"):
            if i + 1 >= len(tokens):
                raise RuleError(i + 1, True)
            op = tokens[i + 1]
            count = 2 if op == "range" else 1
            if op not in ("eq", "lt", "gt", "range"):
                raise RuleError(i + 1)
            values = tokens[i + 2:i + 2 + count]
            if len(values) < count:
                raise RuleError(i + 2 + len(values), True)
            for n, value in enumerate(values):
                if not (value.isdigit() and int(value) <= 65535) and not re.fullmatch(r"[a-z][a-z0-9-]*", value):
                    raise RuleError(i + 2 + n)
            parts[key] = " ".join([key, op, *values])
            i += 2 + count
        elif key == "tcp-flag" and proto == "tcp":
            # VRP8 `rule ... tcp [tcp-flag { ack | established | fin | psh | rst | syn | urg }]`: established
            # matches TCP packets with ACK or RST set (replies of an opened connection). Huawei NetEngine 8000
            # command reference, rule (advanced ACL view) (tcp), ACLOM:
            # http://a10.tagan.ru/huawei/netengine8000f1a/command/8090/rule-ipadv6-tcp-udp-icmp(ACLOM).html ;
            # the flag's meaning: Quidway S5600 Operation Manual - ACL, Table 1-8 (TCP-specific argument):
            # https://manualshive.com/en/manual/huawei/quidway-s5600/169841?page=699
            if i + 1 >= len(tokens):
                raise RuleError(i + 1, True)
            if tokens[i + 1] not in ("ack", "established", "fin", "psh", "rst", "syn", "urg"):
                raise RuleError(i + 1)
            parts[key] = f"tcp-flag {tokens[i + 1]}"
            i += 2
        elif key == "established" and proto == "tcp":
            # Comware 7 `rule ... tcp [established]`: ACK or RST set (H3C Comware 7 ACL and QoS command
            # reference, rule (IPv4 advanced ACL view), `established`: "TCP connection established flag").
            parts[key] = key
            i += 1
        elif key in ("logging", "fragment"):
            parts[key] = key
            i += 1
        else:
            raise RuleError(i)
    order = ("source", "destination", "source-port", "destination-port", "tcp-flag", "established", "fragment",
             "logging")
    return " ".join([action, proto, *(parts[k] for k in order if k in parts)])
