"""ACLs changed by content against the device's own sequence numbers (plugins/module_utils/seams/netdev_acl.py):
a one-line drift is a one-line change, and no state on the way lets through a flow the policy forbids."""

from __future__ import annotations

import random
import re

import pytest

from ansible_collections.jinbao.dc.plugins.module_utils.policy import netpolicy
from ansible_collections.jinbao.dc.plugins.module_utils.seams import netdev, netdev_acl

IOS = netdev.VENDORS["cisco"]
MANAGED = [r"^ip access-list extended ZONE-"]
NETWORKS = {
    "production": {"vlan": 10, "subnet": "10.10.0.0/16"},
    "exchange": {"vlan": 20, "subnet": "10.20.0.0/16"},
    "decision": {"vlan": 30, "subnet": "10.30.0.0/16"},
    "management": {"vlan": 99, "subnet": "10.99.0.0/16"},
}
ACLS = netpolicy.zone_acls(NETWORKS)
DECISION = ACLS["decision"]["entries"]
OPEN = "permit ip 10.30.0.0 0.0.255.255 10.10.0.0 0.0.255.255"  # decision -> production: forbidden


class Device:
    """A small IOS ACL model: named extended ACLs with sequence numbers (an entry it already has is ignored, as
    IOS does), SVIs with their inbound ACL; an applied ACL that is missing or empty lets everything through."""

    def __init__(self, acls: dict[str, list[tuple[int, str]]]) -> None:
        self.acls = {name: dict(entries) for name, entries in acls.items()}
        self.bound = {z["vlan"]: ACLS[zone]["name"] for zone, z in NETWORKS.items()}

    def config(self) -> str:
        out = []
        for z in NETWORKS.values():
            net = z["subnet"].split("/")[0].rsplit(".", 2)[0]
            out += [f"interface Vlan{z['vlan']}", f" ip address {net}.0.2 255.255.0.0"]
            if self.bound.get(z["vlan"]):
                out.append(f" ip access-group {self.bound[z['vlan']]} in")
        for name, entries in self.acls.items():
            out.append(f"ip access-list extended {name}")
            out += [f" {body}" for _, body in sorted(entries.items())]
        return "\n".join(out) + "\n"

    def show(self) -> dict[str, list[tuple[int, str]]]:
        return {name: sorted(entries.items()) for name, entries in self.acls.items()}

    def send(self, line: str) -> None:
        text = line.strip()
        if not line.startswith(" "):
            self.acl = self.vlan = None
            if m := re.match(r"^ip access-list extended (\S+)$", text):
                self.acl = self.acls.setdefault(m.group(1), {})
            elif m := re.match(r"^no ip access-list extended (\S+)$", text):
                self.acls.pop(m.group(1), None)
            elif m := re.match(r"^interface Vlan(\d+)$", text):
                self.vlan = int(m.group(1))
            return
        if self.vlan is not None and (m := re.match(r"^ip access-group (\S+) in$", text)):
            self.bound[self.vlan] = m.group(1)
        elif m := re.match(r"^no (\d+)$", text):
            self.acl.pop(int(m.group(1)), None)
        elif m := re.match(r"^(\d+) (.*)$", text):
            assert int(m.group(1)) not in self.acl, f"{line!r}: % Duplicate sequence number"
            if m.group(2) not in self.acl.values():
                self.acl[int(m.group(1))] = m.group(2)
        else:
            raise AssertionError(f"unexpected line {line!r}")

    def open_flows(self) -> set[str]:
        """The forbidden flows this state lets through (netpolicy decides); an empty applied ACL is no filter."""
        text = self.config()
        for name, entries in self.acls.items():
            if not entries:  # IOS: an applied ACL without entries permits everything
                text = text.replace(f" ip access-group {name} in\n", "\n")
        text = "\n".join(line for line in text.splitlines() if line.strip()) + "\n"
        _, problems = netpolicy.check({"core-01": text}, NETWORKS, [])
        return {p.split(": ")[-1].split(" is ")[0] for p in problems if "forbids" in p}


def intended() -> str:
    return Device({acl["name"]: [(10 * (i + 1), e) for i, e in enumerate(acl["entries"])]
                   for acl in ACLS.values()}).config()


def change(device: Device) -> tuple[list[str], list[set[str]]]:
    """The delta for `device`, sent line by line; the forbidden flows open after each line."""
    lines = netdev.delta(device.config(), intended(), IOS, MANAGED, device.show())
    seen = [device.open_flows()]
    for line in lines:
        device.send(line)
        seen.append(device.open_flows())
    assert netdev.delta(device.config(), intended(), IOS, MANAGED, device.show()) == [], "did not converge"
    return lines, seen


def seed() -> dict[str, list[tuple[int, str]]]:
    return {acl["name"]: [(10 * (i + 1), e) for i, e in enumerate(acl["entries"])] for acl in ACLS.values()}


def test_a_hand_added_permit_is_removed_by_its_own_sequence_number_alone():
    acls = seed()
    acls["ZONE-DECISION-IN"].insert(0, (5, OPEN))
    lines, seen = change(Device(acls))
    assert lines == ["ip access-list extended ZONE-DECISION-IN", " no 5"]
    assert seen[0] == {"decision→production"} and seen[-1] == set()


def test_a_hand_deleted_entry_comes_back_under_a_free_number_in_its_place():
    acls = seed()
    deny = acls["ZONE-DECISION-IN"].pop()
    middle = acls["ZONE-DECISION-IN"].pop(2)
    lines, _ = change(Device(acls))
    assert lines == ["ip access-list extended ZONE-DECISION-IN", f" {deny[0]} {deny[1]}",
                     f" 30 {middle[1]}"]  # the deny first; the permit between its neighbours 20 and 40


def test_reordered_permits_are_moved_in_place_without_a_rewrite():
    acls = seed()
    entries = acls["ZONE-DECISION-IN"]
    acls["ZONE-DECISION-IN"] = [(5, entries[3][1]), *entries[:3], entries[4]]
    lines, seen = change(Device(acls))
    assert lines == ["ip access-list extended ZONE-DECISION-IN", " no 5", f" 40 {entries[3][1]}"]
    assert all(not s for s in seen)


def test_a_deny_that_must_move_is_rebuilt_behind_a_second_name_and_rebound_in_one_command():
    acls = seed()
    entries = acls["ZONE-DECISION-IN"]
    acls["ZONE-DECISION-IN"] = [(5, OPEN), (7, entries[-1][1]), *entries[:-1]]  # the deny moved above the permits
    device = Device(acls)
    lines, seen = change(device)
    swap = "ZONE-DECISION-IN-JINBAO-SWAP"
    assert lines[0] == f"ip access-list extended {swap}"
    assert lines.index(f" ip access-group {swap} in") < lines.index("no ip access-list extended ZONE-DECISION-IN")
    assert lines[-3:] == ["interface Vlan30", " ip access-group ZONE-DECISION-IN in",
                          f"no ip access-list extended {swap}"]
    assert all(s <= seen[0] for s in seen) and seen[-1] == set()
    closed = seen.index(set())  # the drifted permit is shut by the one command that binds the rebuilt ACL
    assert lines[closed - 1] == f" ip access-group {swap} in"
    assert swap not in device.acls


def test_no_free_number_between_two_kept_entries_means_a_rebuild_not_a_duplicate():
    acls = seed()
    entries = acls["ZONE-DECISION-IN"]
    acls["ZONE-DECISION-IN"] = [(1, entries[0][1]), (2, entries[2][1]), *entries[3:]]  # 20 deleted, no gap left
    lines, seen = change(Device(acls))
    assert "ip access-list extended ZONE-DECISION-IN-JINBAO-SWAP" in lines
    assert all(not s for s in seen)


@pytest.mark.parametrize("trial", range(60))
def test_no_line_of_any_repair_opens_a_forbidden_flow_that_was_not_open_before(trial):
    rnd = random.Random(trial)
    acls = seed()
    pool = [OPEN, "permit ip any any", "deny ip any any", "deny ip 10.30.0.0 0.0.255.255 10.20.0.0 0.0.255.255",
            "permit tcp 10.30.0.0 0.0.255.255 10.10.0.0 0.0.255.255 eq 22"]
    for name in rnd.sample(sorted(acls), 2):
        bodies = [b for _, b in acls[name]]
        for _ in range(rnd.randint(1, 3)):
            op = rnd.choice(("add", "delete", "move"))
            if op == "add":
                bodies.insert(rnd.randint(0, len(bodies)), rnd.choice([b for b in pool if b not in bodies]))
            elif op == "delete" and bodies:
                bodies.pop(rnd.randrange(len(bodies)))
            elif bodies:
                bodies.insert(rnd.randint(0, len(bodies) - 1), bodies.pop(rnd.randrange(len(bodies))))
        numbers = sorted(rnd.sample(range(1, 200), len(bodies)))
        acls[name] = list(zip(numbers, bodies, strict=True))
    _, seen = change(Device(acls))
    for state in seen[1:]:
        assert state <= seen[0], f"a line opened {state - seen[0]}"
    assert seen[-1] == set()


def test_the_numbers_are_read_from_show_ip_access_lists_with_the_hit_counters_dropped():
    text = """Standard IP access list 1
    10 permit 10.0.0.0, wildcard bits 0.255.255.255
Extended IP access list ZONE-DECISION-IN
    5 permit ip 10.30.0.0 0.0.255.255 10.10.0.0 0.0.255.255 (12 matches)
    10 permit ip 10.30.0.0 0.0.255.255 10.30.0.0 0.0.255.255
    50 deny ip any any log (3 matches)
"""
    assert netdev_acl.parse_show(text, IOS.acl) == {"ZONE-DECISION-IN": [
        (5, OPEN), (10, "permit ip 10.30.0.0 0.0.255.255 10.30.0.0 0.0.255.255"), (50, "deny ip any any log")]}


def test_acls_go_before_the_bindings_and_stale_ones_after_and_a_rebinding_never_unbinds_first():
    running = ("interface Vlan30\n ip access-group ZONE-OLD-IN in\n"
               "ip access-list extended ZONE-OLD-IN\n permit ip any any\n")
    want = ("interface Vlan30\n ip access-group ZONE-DECISION-IN in\n"
            "ip access-list extended ZONE-DECISION-IN\n deny ip any any log\n")
    lines = [line.rstrip() for line in netdev.delta(running, want, IOS, MANAGED,
                                                    {"ZONE-OLD-IN": [(10, "permit ip any any")]})]
    lines = [f" {line.strip()}" if line.startswith(" ") else line for line in lines]
    assert lines == ["ip access-list extended ZONE-DECISION-IN", " 10 deny ip any any log", "interface Vlan30",
                     " ip access-group ZONE-DECISION-IN in", "no ip access-list extended ZONE-OLD-IN"]


def test_the_policy_view_of_a_running_configuration_holds_addresses_bindings_and_acls_and_no_secret():
    running = ("hostname core-01\nenable secret 9 $9$abc\ninterface Vlan30\n ip vrf forwarding DECISION\n"
               " ip address 10.30.0.2 255.255.0.0\n ip access-group ZONE-DECISION-IN in\n"
               " standby 30 authentication md5 key-string s3cret\n"
               "ip access-list extended ZONE-DECISION-IN\n permit ip 10.30.0.0 0.0.255.255 10.10.0.0 0.0.255.255\n")
    view = netdev_acl.policy_view(running, IOS.acl, {"ZONE-DECISION-IN": [(5, OPEN)]})
    assert view == ("interface Vlan30\n ip vrf forwarding DECISION\n ip address 10.30.0.2 255.255.0.0\n"
                    " ip access-group ZONE-DECISION-IN in\nip access-list extended ZONE-DECISION-IN\n"
                    f" 5 {OPEN}\n")
    assert "s3cret" not in view and "secret" not in view
