"""Huawei VRP8 and H3C Comware 7 as configured vendors: the delta from hier_config (HUAWEI_VRP, HP_COMWARE5)
reads their `#`-separated configurations, negates with `undo` and stays inside the managed sections; their ACLs
converge on content against the device's own rule numbers (`display acl all`); the policy check reads their
Vlanif / Vlan-interface bindings and rules, so a mixed facility is checked offline, and a Huawei core whose
template opens decision → production is stopped before any device is touched."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
import yaml

from ansible_collections.jinbao.dc.plugins.filter import network as network_filters
from ansible_collections.jinbao.dc.plugins.module_utils.policy import netpolicy
from ansible_collections.jinbao.dc.plugins.module_utils.seams import netdev, netdev_acl

ROOT = Path(__file__).resolve().parents[2]
VRP = netdev.VENDORS["huawei"]
COMWARE = netdev.VENDORS["h3c"]
ZONES = yaml.safe_load((ROOT / "inventory" / "lab" / "group_vars" / "all" / "network.yml").read_text())["network_zones"]
MANAGED = ["^ip access-list extended ZONE-", "^acl name ZONE-", "^acl advanced name ZONE-"]


def render(vendor: str, role: str, host: str, exceptions: dict | None = None, **hostvars) -> str:
    """The role's template for this vendor and role, rendered with the role's filters (as network.yml does)."""
    env = jinja2.Environment(trim_blocks=True)
    for name, f in (("zone_acls", network_filters.zone_acls), ("vendor_acls", network_filters.vendor_acls),
                    ("svi_address", network_filters.svi_address)):
        env.filters[f"jinbao_dc_{name}"] = f
    text = (ROOT / "roles" / "network" / "templates" / vendor / f"{role}.cfg.j2").read_text()
    return env.from_string(text.replace("jinbao.dc.", "jinbao_dc_")).render(
        network_zones=ZONES, network_acl_exceptions=exceptions or {}, netdev_vendor=vendor, inventory_hostname=host,
        network_vrrp_vip_host=254, network_port_assignments=[], **hostvars)


def huawei_core(host: str = "core-hw-01", exceptions: dict | None = None) -> str:
    svi, prio = {"core-hw-01": (21, 120), "core-hw-02": (22, 100)}[host]
    return render("huawei", "core", host, exceptions, network_svi_host=svi, network_vrrp_priority=prio)


SEED_VRP = """!Software Version V200R019C10SPC800
!Last configuration was updated at 2026-12-06 10:41:42+00:00 by jinbao-lab
#
sysname core-hw-01
#
vlan batch 99
#
lldp enable
#
ip vpn-instance MGMT
 ipv4-family
  route-distinguisher 65000:99
#
interface Vlanif99
 ip binding vpn-instance MGMT
 ip address 10.99.0.21 255.255.0.0
#
interface 10GE1/0/48
 description uplink acc-h3c-01 XGE1/0/25
 port link-type trunk
 port trunk allow-pass vlan 99
#
return
"""

SEED_COMWARE = """#
 version 7.1.070, Release 6318P01
#
 sysname acc-h3c-01
#
 lldp global enable
#
vlan 1
#
vlan 99
#
interface Vlan-interface99
 ip address 10.99.0.23 255.255.0.0
#
interface GigabitEthernet1/0/11
#
return
"""


def converged(intended: str, seed: str) -> str:
    """What the device prints once the intended sections are in: the seed's other sections, then the intended
    ones (`#` between)."""
    tops = {line for line in intended.splitlines() if line and not line[0].isspace() and line != "#"}
    kept, skip = [], False
    for line in seed.rsplit("return", 1)[0].splitlines():
        if line and not line[0].isspace():
            skip = line in tops
        if not skip:
            kept.append(line)
    return "\n".join(kept) + "\n" + intended + "return\n"


def test_vrp_seed_to_intent_adds_only_managed_sections_and_never_negates_the_rest():
    lines = netdev.delta(netdev.normalise(SEED_VRP, VRP), huawei_core(), VRP, MANAGED)
    assert "acl name ZONE-DECISION-IN advance" in lines and "interface Vlanif30" in lines
    assert not any(line.strip().startswith(("undo sysname", "undo lldp", "undo interface 10GE")) for line in lines)
    assert not any(line.strip() == "#" for line in lines)  # separators are no configuration
    # the ACLs go first, so no binding ever meets a missing ACL
    first_bind = next(i for i, line in enumerate(lines) if "traffic-filter" in line)
    assert all(i < first_bind for i, line in enumerate(lines) if line.startswith("acl name "))


def test_vrp_intent_on_the_device_is_no_change_and_one_drifted_line_is_one_undo():
    intended = huawei_core()
    running = converged(intended, SEED_VRP)
    assert netdev.delta(running, intended, VRP, MANAGED) == []
    drifted = running.replace(" vrrp vrid 30 priority 120", " vrrp vrid 30 priority 120\n vrrp vrid 30 preempt-mode "
                                                            "timer delay 10")
    assert netdev.delta(drifted, intended, VRP, MANAGED) == ["interface Vlanif30",
                                                              "  undo vrrp vrid 30 preempt-mode timer delay 10"]


def test_a_vrp_binding_that_replaces_another_is_sent_without_undoing_the_old_one_first():
    intended = huawei_core()
    running = converged(intended, SEED_VRP).replace("traffic-filter inbound acl name ZONE-DECISION-IN",
                                                    "traffic-filter inbound acl name OLD-ACL")
    lines = netdev.delta(running, intended, VRP, MANAGED)
    assert " traffic-filter inbound acl name ZONE-DECISION-IN" in [line.rstrip() for line in lines] or \
        "  traffic-filter inbound acl name ZONE-DECISION-IN" in lines
    assert not any(line.strip().startswith("undo traffic-filter") for line in lines)


def test_a_hand_added_vrp_rule_is_removed_by_its_own_number_read_from_display_acl_all():
    intended = huawei_core()
    running = converged(intended, SEED_VRP).replace(
        "acl name ZONE-DECISION-IN advance\n",
        "acl name ZONE-DECISION-IN advance\n rule 1 permit ip source 10.30.0.0 0.0.255.255 destination 10.10.0.0 "
        "0.0.255.255\n")
    show = ("Advanced ACL ZONE-DECISION-IN, 6 rules\nACL's step is 5\n"
            " rule 1 permit ip source 10.30.0.0 0.0.255.255 destination 10.10.0.0 0.0.255.255 (3 matches)\n"
            + "".join(f" rule {5 * i} {e} \n" for i, e in enumerate(
                netpolicy.vendor_acls(netpolicy.zone_acls(ZONES), "huawei")["decision"]["entries"], 1)))
    seqs = netdev_acl.parse_show(show, VRP.acl)
    assert seqs["ZONE-DECISION-IN"][0] == (1, "permit ip source 10.30.0.0 0.0.255.255 destination 10.10.0.0 "
                                              "0.0.255.255")
    assert netdev.delta(running, intended, VRP, MANAGED, seqs) == ["acl name ZONE-DECISION-IN advance", " undo rule 1"]


def test_comware_indented_one_liners_are_top_level_and_only_the_zone_vlans_and_ports_are_sent():
    intended = render("h3c", "access", "acc-h3c-01")  # no plan for it here: the zone VLANs only
    lines = netdev.delta(netdev.normalise(SEED_COMWARE, COMWARE), intended, COMWARE, [])
    assert lines == ["vlan 10", "  name PRODUCTION", "vlan 20", "  name EXCHANGE", "vlan 30", "  name DECISION",
                     "vlan 99", "  name MANAGEMENT"]
    assert netdev.delta(converged(intended, SEED_COMWARE), intended, COMWARE, []) == []


def test_comware_acls_parse_from_display_acl_all_and_bind_with_packet_filter():
    show = ("Advanced IPv4 ACL named ZONE-DECISION-IN, 2 rules,\nACL's step is 5, start ID is 0\n"
            " rule 0 permit ip source 10.30.0.0 0.0.255.255 destination 10.30.0.0 0.0.255.255\n"
            " rule 5 deny ip logging (4 times matched)\n")
    assert netdev_acl.parse_show(show, COMWARE.acl) == {"ZONE-DECISION-IN": [
        (0, "permit ip source 10.30.0.0 0.0.255.255 destination 10.30.0.0 0.0.255.255"), (5, "deny ip logging")]}
    config = "interface Vlan-interface30\n packet-filter name ZONE-DECISION-IN inbound\n#\n"
    assert netdev_acl.bindings(config, COMWARE.acl) == {"ZONE-DECISION-IN": [("interface Vlan-interface30",
                                                                              "inbound")]}


def test_the_vendors_have_a_rollback_point_and_a_restore():
    assert VRP.configurable and VRP.two_stage and VRP.commit_trial == "commit trial {seconds}"
    assert VRP.restore == "rollback configuration to commit-id {name}" and VRP.negate == "undo "
    assert COMWARE.configurable and COMWARE.checkpoint == "save flash:/{name}"
    assert COMWARE.restore == "configuration replace file flash:/{name}" and COMWARE.answer == "y"


@pytest.mark.parametrize(("ios", "vrp", "comware"), [
    ("permit ip 10.30.0.0 0.0.255.255 10.30.0.0 0.0.255.255",
     "permit ip source 10.30.0.0 0.0.255.255 destination 10.30.0.0 0.0.255.255", None),
    ("permit tcp 10.30.0.0 0.0.255.255 10.10.0.0 0.0.255.255 established",
     "permit tcp source 10.30.0.0 0.0.255.255 destination 10.10.0.0 0.0.255.255 tcp-flag established",
     "permit tcp source 10.30.0.0 0.0.255.255 destination 10.10.0.0 0.0.255.255 established"),
    ("permit tcp 10.20.0.0 0.0.255.255 host 10.10.0.5 eq 1521",
     "permit tcp source 10.20.0.0 0.0.255.255 destination 10.10.0.5 0 destination-port eq 1521", None),
    ("deny ip any any log", "deny ip logging", "deny ip logging"),
])
def test_an_ios_entry_in_vrp_and_comware_syntax_means_the_same_to_the_policy_check(ios, vrp, comware):
    assert netpolicy.vendor_entry(ios, "huawei") == vrp
    if comware:
        assert netpolicy.vendor_entry(ios, "h3c") == comware
    a, b = netpolicy.parse_entry(1, ios), netpolicy.parse_entry(1, f"rule 5 {vrp}")
    assert (a.action, a.protocol, a.source, a.destination, a.established) == \
        (b.action, b.protocol, b.source, b.destination, b.established)
    assert b.seq == 5 and b.text == vrp  # the rule as the device writes it


def test_source_omitted_is_any_and_wildcard_zero_is_one_host():
    e = netpolicy.parse_entry(1, "rule 10 permit ip destination 10.10.0.7 0")
    assert str(e.source) == "0.0.0.0/0" and str(e.destination) == "10.10.0.7/32"


def test_a_mixed_facility_of_ios_and_vrp_cores_is_checked_offline():
    cisco = (ROOT / "roles" / "network" / "templates" / "cisco" / "core.cfg.j2").read_text()
    assert "ip access-list extended" in cisco  # the Cisco pair's template exists beside the Huawei one
    configs = {"core-hw-01": huawei_core("core-hw-01"), "core-hw-02": huawei_core("core-hw-02")}
    result, problems = netpolicy.check(configs, ZONES, configs)
    assert problems == []
    assert result["devices"]["core-hw-01"]["decision"]["production"]["reachable"] is False
    assert result["devices"]["core-hw-01"]["production"]["decision"]["reachable"] is True


def test_a_comware_router_with_a_numbered_acl_is_read_too():
    config = ("#\n sysname r\n#\nacl advanced 3001\n rule 0 permit ip source 10.30.0.0 0.0.255.255 destination "
              "10.10.0.0 0.0.255.255\n rule 5 deny ip logging\n#\ninterface Vlan-interface30\n ip address 10.30.0.4 "
              "255.255.0.0\n packet-filter 3001 inbound\n#\nreturn\n")
    svis, acls = netpolicy.parse_config(config)
    assert svis[30].acl_in == "3001" and [e.seq for e in acls["3001"]] == [0, 5]
    _, problems = netpolicy.check({"r": config}, {"decision": ZONES["decision"], "production": ZONES["production"]},
                                  [])
    assert problems == ["r: 3001 line 1 (sequence 0) 'permit ip source 10.30.0.0 0.0.255.255 destination 10.10.0.0 "
                        "0.0.255.255': decision→production is reachable, but the flow policy forbids it"]


def test_a_huawei_core_template_that_opens_decision_to_production_is_stopped_before_any_device_is_touched():
    """network.yml's first play checks the core pair's intended configurations (this check) before the change
    play reads or touches a device; any problem fails it (any_errors_fatal)."""
    opening = {"decision": ["permit ip 10.30.0.0 0.0.255.255 10.10.0.0 0.0.255.255"]}
    configs = {"core-hw-01": huawei_core("core-hw-01", opening), "core-hw-02": huawei_core("core-hw-02", opening)}
    assert " rule 25 permit ip source 10.30.0.0 0.0.255.255 destination 10.10.0.0 0.0.255.255" in configs["core-hw-01"]
    _, problems = netpolicy.check(configs, ZONES, configs)
    assert ("core-hw-01: ZONE-DECISION-IN line 5 (sequence 25) 'permit ip source 10.30.0.0 0.0.255.255 destination "
            "10.10.0.0 0.0.255.255': decision→production is reachable, but the flow policy forbids it") in problems
    assert all("decision→production" in p for p in problems) and len(problems) == 2


def test_under_check_the_policy_view_of_a_running_vrp_core_names_a_hand_added_permit_with_its_rule_number():
    running = converged(huawei_core(), SEED_VRP)
    view = netdev_acl.policy_view(running, VRP.acl)
    assert netpolicy.check({"core-hw-01": view}, ZONES, ["core-hw-01"])[1] == []
    show = ("Advanced ACL ZONE-DECISION-IN, 6 rules\n"
            " rule 1 permit ip source 10.30.0.0 0.0.255.255 destination 10.10.0.0 0.0.255.255 \n"
            + "".join(f" rule {5 * i} {e} \n" for i, e in enumerate(
                netpolicy.vendor_acls(netpolicy.zone_acls(ZONES), "huawei")["decision"]["entries"], 1)))
    drifted = running.replace("acl name ZONE-DECISION-IN advance\n", "acl name ZONE-DECISION-IN advance\n rule 1 "
                              "permit ip source 10.30.0.0 0.0.255.255 destination 10.10.0.0 0.0.255.255\n")
    view = netdev_acl.policy_view(drifted, VRP.acl, netdev_acl.parse_show(show, VRP.acl))
    assert netpolicy.check({"core-hw-01": view}, ZONES, ["core-hw-01"])[1] == [
        "core-hw-01: ZONE-DECISION-IN line 1 (sequence 1) 'permit ip source 10.30.0.0 0.0.255.255 destination "
        "10.10.0.0 0.0.255.255': decision→production is reachable, but the flow policy forbids it"]
