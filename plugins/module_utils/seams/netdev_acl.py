"""ACLs on a device, changed by content against the device's own sequence numbers, never through an open window.

hier_config numbers an ACL's entries by their position (10, 20, ...). A device numbers them its own way: an entry
added by hand as `5 permit ...` is 5, and IOS's running configuration shows no numbers at all. A delta by position
then removes and re-adds most of a live ACL under numbers the device does not have: it never converges, and
on IOS an applied ACL with no entries permits everything while the push runs. So netdev.delta() leaves the ACLs to
this module, which:

* reads each ACL's entries with the device's real sequence numbers (`show ip access-lists` on IOS and EOS;
  `AclSyntax.show`) and compares them with the intended entries by content, in order;
* keeps the longest run of entries already in the intended order where they are, removes the others by number
  (`no 5`), and adds the missing ones under a free number between their kept neighbours: a one-line drift is a
  one-line change;
* orders those lines so that no state on the way permits more than the state before the change or the intended
  one does: first the unwanted permits go and the missing denies come, then the unwanted denies go and the
  missing permits come. Removing a permit or adding a deny can only narrow what an ACL lets through; once every
  intended deny is in place, in the intended order, and no unwanted permit is left, the ACL lets through only
  what the intended one does (each permit that decides a packet is an intended one, and every intended deny
  before it is there too);
* rewrites the ACL only where that cannot work: an intended deny that must move (a device ignores an entry it
  already has, so moving one means removing it first, and that would open what it closed), or no free number
  left between two kept entries. A rewrite of an ACL that an interface applies builds the intended ACL under a
  second name, rebinds every interface to it in one command each (`ip access-group` replaces the binding in
  place on IOS and EOS), removes and rebuilds the original while nothing applies it, rebinds back, and removes the
  second one. Rebinding was chosen over "order the lines so the denies stay in place" because a reordering
  leaves no such order: a deny that moves is absent in between. An ACL no interface applies is rebuilt in place.

The vendor-specific text is one AclSyntax per platform (netdev.VENDORS): the ACL header, how an entry carries
its number, the add/remove/drop/bind lines and the show command with the device's numbers: IOS_ACL, EOS_ACL,
VRP_ACL (`acl name X advance` / `rule 5 permit ...` / `undo rule 5` / `traffic-filter inbound acl name X`) and
COMWARE_ACL (`acl advanced name X` / `packet-filter name X inbound`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class AclSyntax:
    header: str                 # an ACL's top-level line; group 1 is its name
    header_line: str            # that line for {name}
    drop: str                   # removes the ACL {name}
    bind: str                   # an interface's line applying an ACL; groups: name, direction
    bind_line: str              # that line for {name}, {direction}
    show: str | None = None     # lists every ACL with the device's sequence numbers
    show_header: str = ""       # an ACL's heading in `show`'s output; group 1 is its name
    entry: str = r"^(\d+)\s+(\S.*)$"   # an entry with its number (in `show`, and in configs that carry numbers)
    add: str = "{seq} {body}"
    remove: str = "no {seq}"
    permit: str = "permit"      # the first word of an entry that lets traffic through
    step: int = 10
    seq_max: int = 2147483647
    swap_suffix: str = "-JINBAO-SWAP"
    # The lines of an interface section the policy check reads (policy_view); nothing else leaves the device.
    view: tuple[str, ...] = (r"^ip address ", r"^ip vrf forwarding ", r"^vrf forwarding ", r"^vrf ",
                             r"^ip access-group ")
    negate: str = "no "         # the platform's negation prefix (VRP and Comware: `undo `)


IOS_ACL = AclSyntax(header=r"^ip access-list extended (\S+)$", header_line="ip access-list extended {name}",
                    drop="no ip access-list extended {name}", bind=r"^ip access-group (\S+) (in|out)$",
                    bind_line="ip access-group {name} {direction}", show="show ip access-lists",
                    show_header=r"^Extended IP access list (\S+)")
EOS_ACL = AclSyntax(header=r"^ip access-list (?!standard )(\S+)$", header_line="ip access-list {name}",
                    drop="no ip access-list {name}", bind=r"^ip access-group (\S+) (in|out)$",
                    bind_line="ip access-group {name} {direction}", show="show ip access-lists",
                    show_header=r"^IP Access List (\S+)")

# Huawei VRP8 (CloudEngine): named advanced ACLs `acl name X advance` with `rule N ...` entries (`undo rule N`),
# applied by `traffic-filter inbound acl name X` on a Vlanif (one per direction: a new one replaces the old in
# one command); `display acl all` lists each with its rule numbers ("Advanced ACL X, 6 rules"). The bind pattern
# captures the name first through a look-ahead (groups: name, direction). Huawei CloudEngine command reference,
# ACL configuration commands (acl name, rule, traffic-filter):
# https://support.huawei.com/enterprise/en/doc/EDOC1000178165/f3ca4a6c/acl-configuration-commands
VRP_ACL = AclSyntax(header=r"^acl name (\S+) advance$",
                    header_line="acl name {name} advance", drop="undo acl name {name}",
                    bind=r"^traffic-filter (?=(?:inbound|outbound) acl (?:name )?(\S+)$)(inbound|outbound)",
                    bind_line="traffic-filter {direction} acl name {name}", show="display acl all",
                    show_header=r"^Advanced ACL (\S+),", entry=r"^rule (\d+)\s+(\S.*)$", add="rule {seq} {body}",
                    remove="undo rule {seq}", step=5, seq_max=4294967294,
                    view=(r"^ip address ", r"^ip binding vpn-instance ", r"^traffic-filter "), negate="undo ")
# H3C Comware 7: `acl advanced name X`, `rule N ...`, `packet-filter name X inbound` on a Vlan-interface;
# `display acl all` ("Advanced IPv4 ACL named X, 6 rules,"). H3C Comware 7 ACL and QoS command reference.
COMWARE_ACL = AclSyntax(header=r"^acl advanced (?:name )?(\S+)$", header_line="acl advanced name {name}",
                        drop="undo acl advanced name {name}",
                        bind=r"^packet-filter (?:name )?(\S+) (inbound|outbound)$",
                        bind_line="packet-filter name {name} {direction}", show="display acl all",
                        show_header=r"^Advanced IPv4 ACL (?:named )?(\S+),", entry=r"^rule (\d+)\s+(\S.*)$",
                        add="rule {seq} {body}", remove="undo rule {seq}", step=5, seq_max=65534,
                        view=(r"^ip address ", r"^ip binding vpn-instance ", r"^packet-filter "), negate="undo ")

_COUNTERS = re.compile(r"\s*\((\d+ matches|\d+ match|\d+ times? matched|[^()]*hits?[^()]*)\)\s*$"
                       r"|\s*\[match \d+[^\]]*\]\s*$")


def _squeeze(line: str) -> str:
    return re.sub(r"\s+", " ", line.strip())


@dataclass
class Acl:
    name: str
    entries: list[tuple[int | None, str]] = field(default_factory=list)  # (number or None, body), in order


def _is_rule(body: str) -> bool:
    return bool(body) and body.split()[0] in ("permit", "deny")


def split(text: str, syn: AclSyntax) -> tuple[str, dict[str, Acl]]:
    """The configuration without its ACL sections, and those ACLs (entries with their number where the
    configuration shows one; remarks are not rules and are left out)."""
    rest: list[str] = []
    acls: dict[str, Acl] = {}
    current: Acl | None = None
    header = re.compile(syn.header)
    entry = re.compile(syn.entry)
    for raw in text.splitlines():
        if raw and not raw[0].isspace():
            current = None
            m = header.match(raw.rstrip())
            if m:
                current = acls.setdefault(m.group(1), Acl(m.group(1)))
                continue
        elif current is not None:
            body = _squeeze(raw)
            if not body or body == "!":
                continue
            m = entry.match(body)
            seq, body = (int(m.group(1)), m.group(2)) if m else (None, body)
            if _is_rule(body):
                current.entries.append((seq, body))
            continue
        rest.append(raw)
    return "\n".join(rest) + "\n", acls


def parse_show(text: str, syn: AclSyntax) -> dict[str, list[tuple[int, str]]]:
    """ACL name -> [(the device's sequence number, entry)] from `syn.show`'s output (hit counters dropped)."""
    out: dict[str, list[tuple[int, str]]] = {}
    current: list[tuple[int, str]] | None = None
    header, entry = re.compile(syn.show_header), re.compile(syn.entry)
    for raw in text.splitlines():
        m = header.match(raw.strip()) if raw.strip() else None
        if m:
            current = out.setdefault(m.group(1), [])
            continue
        m = entry.match(_squeeze(_COUNTERS.sub("", raw))) if current is not None else None
        if m and _is_rule(m.group(2)):
            current.append((int(m.group(1)), m.group(2)))
    return out


def bindings(text: str, syn: AclSyntax) -> dict[str, list[tuple[str, str]]]:
    """ACL name -> [(interface line, direction)] of every interface that applies it."""
    out: dict[str, list[tuple[str, str]]] = {}
    interface = None
    bind = re.compile(syn.bind)
    for raw in text.splitlines():
        if raw and not raw[0].isspace():
            interface = raw.rstrip() if raw.startswith("interface ") else None
            continue
        m = bind.match(_squeeze(raw)) if interface else None
        if m:
            out.setdefault(m.group(1), []).append((interface, m.group(2)))
    return out


def numbered(acl: Acl, device: list[tuple[int, str]] | None, step: int = 10) -> list[tuple[int, str]]:
    """The ACL's entries with numbers: the device's own (from `show`) when read, else those the configuration
    shows, else by position (an estimate: only whether a change is due, never the lines sent, rests on it)."""
    if device is not None:
        return sorted(device)
    if all(seq is not None for seq, _ in acl.entries):
        return sorted((seq, body) for seq, body in acl.entries)  # type: ignore[misc]
    return [(step * (i + 1), body) for i, (_, body) in enumerate(acl.entries)]


def _lcs(a: list[str], b: list[str]) -> list[tuple[int, int]]:
    """Index pairs of a longest common subsequence of a and b."""
    n, m = len(a), len(b)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            table[i][j] = table[i + 1][j + 1] + 1 if a[i] == b[j] else max(table[i + 1][j], table[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if a[i] == b[j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def _numbers(lo: int, hi: int | None, count: int, taken: set[int], syn: AclSyntax) -> list[int] | None:
    """`count` increasing free numbers strictly between lo and hi (None: after lo), or None when there are none."""
    if hi is None:
        out, seq = [], lo
        while len(out) < count:
            seq += syn.step
            if seq > syn.seq_max:
                return None
            if seq not in taken:
                out.append(seq)
        return out
    gap = hi - lo
    if gap > count:
        even = [lo + gap * (k + 1) // (count + 1) for k in range(count)]
        if not taken.intersection(even):
            return even
    free = [s for s in range(lo + 1, min(hi, lo + 100_000)) if s not in taken]
    if len(free) < count:
        return None
    if len(free) == count:
        return free
    return [free[(k + 1) * len(free) // (count + 1)] for k in range(count)]


def in_place(running: list[tuple[int, str]], intended: list[str], syn: AclSyntax) -> list[str] | None:
    """The entry lines (without the header) that turn `running` into `intended` where it is, in the safe order
    (module docstring); [] when they are equal; None when only a rewrite can do it."""
    bodies = [body for _, body in running]
    if bodies == intended:
        return []
    kept = _lcs(bodies, intended)
    kept_r, kept_i = {i for i, _ in kept}, {j for _, j in kept}
    removed = [running[i] for i in range(len(running)) if i not in kept_r]
    removed_denies = [(s, b) for s, b in removed if not b.startswith(syn.permit)]
    if {b for _, b in removed_denies} & {intended[j] for j in range(len(intended)) if j not in kept_i}:
        return None  # an intended deny must move: it would be absent in between
    taken = {running[i][0] for i in kept_r} | {s for s, _ in removed_denies}
    added: list[tuple[int, str]] = []
    anchors = [(-1, 0), *((j, running[i][0]) for i, j in kept), (len(intended), None)]
    for (j_lo, lo), (j_hi, hi) in itertools.pairwise(anchors):
        run = intended[j_lo + 1:j_hi]
        if not run:
            continue
        seqs = _numbers(lo, hi, len(run), taken, syn)
        if seqs is None:
            return None
        added.extend(zip(seqs, run, strict=True))
    adds = {True: [], False: []}
    for seq, body in added:
        adds[body.startswith(syn.permit)].append(syn.add.format(seq=seq, body=body))
    drops = {True: [], False: []}
    for seq, body in removed:
        drops[body.startswith(syn.permit)].append(syn.remove.format(seq=seq))
    return [f" {line}" for line in (*drops[True], *adds[False], *drops[False], *adds[True])]


def _entries(name: str, intended: list[str], syn: AclSyntax) -> list[str]:
    return [syn.header_line.format(name=name),
            *(f" {syn.add.format(seq=syn.step * (i + 1), body=body)}" for i, body in enumerate(intended))]


def plan(name: str, running: list[tuple[int, str]] | None, intended: list[str],
         bound: list[tuple[str, str]], existing: Iterable[str], syn: AclSyntax) -> list[str]:
    """The lines that give ACL `name` the `intended` entries: in place where it can (in_place), else rebuilt;
    an ACL applied on an interface is rebuilt behind a second name (module docstring)."""
    if running is None:
        return _entries(name, intended, syn)
    lines = in_place(running, intended, syn)
    if lines is not None:
        return [syn.header_line.format(name=name), *lines] if lines else []
    if not bound:
        return [syn.drop.format(name=name), *_entries(name, intended, syn)]
    taken, n, swap = set(existing), 1, f"{name}{syn.swap_suffix}"
    while swap in taken:  # a second name no ACL has (not even one an interrupted rewrite left behind)
        n += 1
        swap = f"{name}{syn.swap_suffix}{n}"

    def rebind(to: str) -> list[str]:
        return [line for interface, direction in bound
                for line in (interface, f" {syn.bind_line.format(name=to, direction=direction)}")]

    return [*_entries(swap, intended, syn), *rebind(swap), syn.drop.format(name=name),
            *_entries(name, intended, syn), *rebind(name), syn.drop.format(name=swap)]


@dataclass
class AclDelta:
    running: str                 # the running configuration without its ACLs (for hier_config)
    intended: str                # the intended one without its ACLs
    first: list[str]             # ACL lines to send before the rest (so a binding never meets a missing ACL)
    last: list[str]              # stale managed ACLs, removed after the rest (once nothing applies them)


def acl_delta(running: str, intended: str, syn: AclSyntax, managed: list[re.Pattern],
              device: dict[str, list[tuple[int, str]]] | None = None) -> AclDelta:
    """Split the ACLs off both configurations and work out their lines: the intended ACLs by content (plan),
    the running ACLs that a `managed` pattern owns and the intent lacks removed last. `device`: the device's
    entries with their real numbers (parse_show); without it the numbers are estimated (numbered)."""
    run_rest, run_acls = split(running, syn)
    want_rest, want_acls = split(intended, syn)
    bound = bindings(running, syn)
    first: list[str] = []
    for name, acl in want_acls.items():
        have = run_acls.get(name)
        entries = None if have is None else numbered(have, (device or {}).get(name), syn.step)
        first.extend(plan(name, entries, [body for _, body in acl.entries], bound.get(name, []), run_acls, syn))
    last = [syn.drop.format(name=name) for name in run_acls
            if name not in want_acls and any(p.search(syn.header_line.format(name=name)) for p in managed)]
    return AclDelta(run_rest, want_rest, first, last)


def without_unbinding(section: list[str], syn: AclSyntax) -> list[str]:
    """An interface section of a delta without `no <binding>` where the section applies another ACL in the same
    direction: the new binding replaces the old one in one command; removing it first would leave the interface
    open in between."""
    bind = re.compile(syn.bind)
    directions = {m.group(2) for line in section if (m := bind.match(line.strip()))}
    negation = re.compile(rf"^{re.escape(syn.negate)}(.*)$")
    return [line for line in section
            if not ((m := negation.match(line.strip())) and (b := bind.match(m.group(1)))
                    and b.group(2) in directions)]


def policy_view(running: str, syn: AclSyntax, device: dict[str, list[tuple[int, str]]] | None = None) -> str:
    """What the policy check reads of a running configuration, and nothing else (no keys or secrets): each
    interface's addresses, VRF and ACL bindings, and the ACLs with the device's sequence numbers."""
    keep = [re.compile(p) for p in syn.view]
    out: list[str] = []
    interface: list[str] = []
    for raw in split(running, syn)[0].splitlines():
        if raw and not raw[0].isspace():
            if len(interface) > 1:
                out.extend(interface)
            interface = [raw.rstrip()] if raw.startswith("interface ") else []
        elif interface and any(p.match(raw.strip()) for p in keep):
            interface.append(f" {_squeeze(raw)}")
    if len(interface) > 1:
        out.extend(interface)
    for name, acl in split(running, syn)[1].items():
        out.append(syn.header_line.format(name=name))
        out.extend(f" {seq} {body}" for seq, body in numbered(acl, (device or {}).get(name), syn.step))
    return "\n".join(out) + "\n"
