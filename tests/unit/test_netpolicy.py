"""Zone segmentation: the ACLs derived from the flow policy admit exactly the allowed flows, and the offline
check names the device, ACL line and flow of any configuration that breaks the policy."""

from __future__ import annotations

import pytest

from ansible_collections.jinbao.dc.plugins.filter import network as network_filters
from ansible_collections.jinbao.dc.plugins.module_utils.policy import netpolicy

NETWORKS = {
    "production": {"vlan": 110, "subnet": "10.110.0.0/16"},
    "exchange": {"vlan": 120, "subnet": "10.120.0.0/16"},
    "decision": {"vlan": 130, "subnet": "10.130.0.0/16"},
    "management": {"vlan": 199, "subnet": "10.199.0.0/16"},
}


def core(acls=None, svi_acl=None, host=2) -> str:
    """An IOS configuration of a core switch: one SVI per zone with its inbound ACL."""
    acls = acls if acls is not None else netpolicy.zone_acls(NETWORKS)
    out = ["hostname core", "!"]
    for zone, net in NETWORKS.items():
        base = net["subnet"].split("/")[0].rsplit(".", 2)[0]
        name = (svi_acl or {}).get(zone, acls[zone]["name"] if zone in acls else None)
        out += [f"interface Vlan{net['vlan']}", f" ip address {base}.0.{host} 255.255.0.0"]
        out += [f" ip access-group {name} in"] if name else []
        out += ["!"]
    for acl in acls.values():
        out += [f"ip access-list extended {acl['name']}", *[f" {e}" for e in acl["entries"]], "!"]
    return "\n".join(out) + "\n"


def test_the_policy_lets_data_flow_only_towards_decision_and_never_back_into_production():
    matrix = netpolicy.policy_matrix(NETWORKS)
    assert matrix["production"] == {"exchange": True, "decision": True, "management": False}
    assert matrix["exchange"] == {"production": False, "decision": True, "management": False}
    assert matrix["decision"] == {"production": False, "exchange": False, "management": False}
    assert all(matrix["management"].values())


def test_each_zone_acl_admits_its_allowed_flows_replies_only_the_other_way_and_denies_the_rest():
    acl = netpolicy.zone_acl("exchange", NETWORKS)
    assert acl == [
        "permit ip 10.120.0.0 0.0.255.255 10.120.0.0 0.0.255.255",
        "permit tcp 10.120.0.0 0.0.255.255 10.110.0.0 0.0.255.255 established",  # replies to production
        "permit ip 10.120.0.0 0.0.255.255 10.130.0.0 0.0.255.255",
        "permit tcp 10.120.0.0 0.0.255.255 10.199.0.0 0.0.255.255 established",  # replies to management
        "deny ip any any log",
    ]


def test_the_derived_configs_pass_the_check_on_both_cores():
    result, problems = netpolicy.check({"core-01": core(), "core-02": core(host=3)}, NETWORKS, ["core-01", "core-02"])
    assert problems == []
    assert result["matrix"] == netpolicy.policy_matrix(NETWORKS)
    cell = result["devices"]["core-01"]["decision"]["production"]
    assert cell == {"reachable": False, "acl": "ZONE-DECISION-IN", "line": 5, "seq": None,
                    "entry": "deny ip any any log"}


def test_a_line_that_lets_decision_reach_production_is_named_with_device_acl_line_and_flow():
    acls = netpolicy.zone_acls(NETWORKS)
    acls["decision"]["entries"].insert(1, "permit tcp 10.130.0.0 0.0.255.255 host 10.110.0.10 eq 5432")
    _, problems = netpolicy.check({"core-01": core(), "core-02": core(acls, host=3)}, NETWORKS, ["core-01", "core-02"])
    assert problems == ["core-02: ZONE-DECISION-IN line 2 'permit tcp 10.130.0.0 0.0.255.255 host 10.110.0.10 eq "
                        "5432': decision→production is reachable, but the flow policy forbids it"]


def test_a_missing_acl_a_missing_svi_and_a_blocked_allowed_flow_are_each_named():
    acls = netpolicy.zone_acls(NETWORKS)
    acls["production"]["entries"].insert(1, "deny ip 10.110.0.0 0.0.255.255 10.120.0.0 0.0.255.255")
    bad = core(acls, svi_acl={"exchange": None})
    bad = bad.replace("interface Vlan130\n ip address 10.130.0.2 255.255.0.0\n ip access-group ZONE-DECISION-IN in\n",
                      "")
    _, problems = netpolicy.check({"core-01": bad}, NETWORKS, ["core-01", "core-02"])
    assert "core-02: zone production: no SVI in 10.110.0.0/16" in problems
    assert "core-01: zone decision: no SVI in 10.130.0.0/16" in problems
    assert ("core-01: ZONE-PRODUCTION-IN line 2 'deny ip 10.110.0.0 0.0.255.255 10.120.0.0 0.0.255.255': "
            "production→exchange is blocked, but the flow policy allows it") in problems
    assert "core-01: -: interface Vlan120 has no inbound ACL: exchange→production is reachable, but the flow " \
           "policy forbids it" in problems


def test_a_partial_deny_does_not_hide_a_later_permit_and_established_never_opens_a_flow():
    entries = [netpolicy.parse_entry(1, "deny ip 10.130.0.0 0.0.0.255 10.110.0.0 0.0.255.255"),
               netpolicy.parse_entry(2, "permit tcp 10.130.0.0 0.0.255.255 10.110.0.0 0.0.255.255 established"),
               netpolicy.parse_entry(3, "10 permit udp any range 1000 2000 10.110.0.0/16 eq 53 log")]
    ok, entry = netpolicy._decide(entries, *(netpolicy.ipaddress.ip_network(n) for n in ("10.130.0.0/16",
                                                                                           "10.110.0.0/16")))
    assert ok and entry.line == 3 and entry.protocol == "udp"


def test_a_running_acl_with_the_devices_sequence_numbers_names_the_number_of_the_line_that_opens_a_flow():
    acls = netpolicy.zone_acls(NETWORKS)
    running = core(acls).replace(
        "ip access-list extended ZONE-DECISION-IN\n",
        "ip access-list extended ZONE-DECISION-IN\n 5 permit ip 10.130.0.0 0.0.255.255 10.110.0.0 0.0.255.255\n")
    _, problems = netpolicy.check({"core-01": running}, NETWORKS, ["core-01"])
    assert problems == ["core-01: ZONE-DECISION-IN line 1 (sequence 5) 'permit ip 10.130.0.0 0.0.255.255 10.110.0.0 "
                        "0.0.255.255': decision→production is reachable, but the flow policy forbids it"]


@pytest.mark.parametrize("text", ["permit", "allow ip any any", "permit ip 10.0.0.0"])
def test_an_entry_that_cannot_be_read_is_an_error_not_a_guess(text):
    with pytest.raises(ValueError, match="not an extended ACL entry"):
        netpolicy.parse_entry(1, text)


def _network_filters():

    return network_filters


def test_a_batch_lists_each_device_with_its_connection_intent_and_managed_lines():
    hostvars = {h: {"ansible_host": "127.0.0.1", "ansible_port": port, "netdev_device_type": "cisco_ios",
                    "netdev_vendor": "cisco", "netdev_username": "u", "netdev_password": "p",
                    "netdev_known_hosts": "/k", "netdev_role": role, "__network_intended": f"hostname {h}\n"}
                for h, port, role in (("core-01", 18801, "core"), ("acc-main-01", 18803, "access"))}
    devices = _network_filters().network_batch_devices(["core-01", "acc-main-01"], hostvars,
                                                         {"core": ["^ip access-list extended ZONE-"], "access": []})
    assert [(d["name"], d["port"], d["managed"]) for d in devices] == [
        ("core-01", 18801, ["^ip access-list extended ZONE-"]), ("acc-main-01", 18803, [])]
    assert devices[0]["intended"] == "hostname core-01\n" and devices[0]["secret"] is None


def test_a_batch_device_without_its_password_is_named_with_the_variable_to_set():
    from ansible.errors import AnsibleFilterError

    hostvars = {"core-01": {"ansible_host": "127.0.0.1", "netdev_device_type": "cisco_ios", "netdev_vendor": "cisco",
                            "netdev_username": "u", "netdev_known_hosts": "/k", "__network_intended": "x"}}
    with pytest.raises(AnsibleFilterError, match=r"core-01: netdev_password: missing"):
        _network_filters().network_batch_devices(["core-01"], hostvars, {})
