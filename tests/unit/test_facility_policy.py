"""The facility policy model: every rule of the notice that the inventory must obey."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.jinbao.dc.plugins.module_utils.policy import facility

FACILITY = {
    "tier": "city",
    "rooms": ["main", "branch-north"],
    "racks": {
        "main-A01": {"room": "main", "units": 42, "power_budget_w": 2000},
        "north-R1": {"room": "branch-north", "units": 42, "power_budget_w": 2000},
    },
    "systems": {
        "basic-info": {"zone": "production"},
        "pension": {"zone": "production", "depends_on": ["basic-info"]},
        "cross-region": {"zone": "exchange"},
    },
}
HOSTS = {
    "esx-prod-01": {"zone": "production", "room": "main", "rack": "main-A01", "rack_u": 2, "rack_units": 2,
                    "power_w": 600, "group_names": ["production", "room_main"]},
    "esx-exch-01": {"zone": "exchange", "room": "main", "rack": "main-A01", "rack_u": 4, "rack_units": 2,
                    "power_w": 600, "group_names": ["exchange", "room_main"]},
    "esx-north-01": {"zone": "production", "room": "branch-north", "rack": "north-R1", "rack_u": 10,
                     "power_w": 500, "group_names": ["production", "room_branch_north"]},
    "vc-central": {"zone": "management", "room": "main", "group_names": ["management"]},
}


def problems(hosts=None, fac=None) -> list[str]:
    return [str(p) for p in facility.check_facility(hosts or HOSTS, fac or FACILITY)]


def variant(**changes):
    hosts = copy.deepcopy(HOSTS)
    for host, fields in changes.items():
        hosts[host.replace("_", "-")].update(fields)
    return hosts


def test_a_consistent_facility_has_no_problems():
    assert problems() == []


def test_missing_zone_names_host_and_field():
    hosts = variant(esx_north_01={"zone": None, "group_names": ["room_branch_north"]})
    assert problems(hosts) == [
        "esx-north-01: zone: missing; set zone to one of production, exchange, decision, management"]


def test_unknown_zone_names_host_and_value():
    hosts = variant(vc_central={"zone": "dmz", "group_names": []})
    assert problems(hosts) == [
        "vc-central: zone: unknown zone 'dmz'; expected one of production, exchange, decision, management"]


def test_host_in_two_zone_groups_is_rejected():
    hosts = variant(esx_prod_01={"group_names": ["production", "exchange", "room_main"]})
    assert problems(hosts) == ["esx-prod-01: zone: host is in two zones (exchange, production); "
                               "a host belongs to exactly one zone group"]


def test_zone_variable_disagreeing_with_zone_group_is_rejected():
    hosts = variant(esx_prod_01={"zone": "decision"})
    assert any("esx-prod-01: zone: host is in two zones: zone is 'decision'" in p for p in problems(hosts))


@pytest.mark.parametrize("zone", ["exchange", "decision"])
def test_centralised_zone_outside_main_room_is_rejected(zone):
    hosts = variant(esx_north_01={"zone": zone, "group_names": [zone]})
    assert (f"esx-north-01: room: {zone} assets must sit in the main machine room from day one "
            "(notice §3), but room is 'branch-north'") in problems(hosts)


def test_new_production_system_outside_main_room_is_rejected():
    hosts = variant(esx_north_01={"lifecycle": "new"})
    assert problems(hosts) == ["esx-north-01: room: a new production system must be built in the main machine "
                               "room (notice §3), but room is 'branch-north'"]


def test_existing_production_system_may_stay_in_a_branch_room_until_its_wave():
    hosts = variant(esx_north_01={"lifecycle": "existing"})
    assert problems(hosts) == []


def test_new_production_business_system_outside_main_room_is_rejected():
    fac = copy.deepcopy(FACILITY)
    fac["systems"]["pension"].update(lifecycle="new", room="branch-north")
    assert problems(fac=fac) == ["system pension: room: a new production system must be built in the main "
                                 "machine room (notice §3), but room is 'branch-north'"]


def test_two_devices_in_the_same_rack_unit_are_rejected():
    hosts = variant(esx_exch_01={"rack_u": 3})
    assert problems(hosts) == ["esx-prod-01: rack_u: main-A01 U3 is already occupied by esx-exch-01; "
                               "two devices cannot share a rack unit"]


def test_device_beyond_the_top_of_its_rack_is_rejected():
    hosts = variant(esx_prod_01={"rack_u": 42})
    assert problems(hosts) == ["esx-prod-01: rack_u: U42-U43 does not fit rack main-A01 (U1-U42)"]


def test_rack_over_its_power_budget_names_rack_load_and_shortfall():
    hosts = variant(esx_prod_01={"power_w": 1500})
    assert problems(hosts) == ["rack main-A01: power_budget_w: declared load 2100 W exceeds the budget of "
                               "2000 W by 100 W (hosts: esx-exch-01, esx-prod-01)"]


def test_rack_in_another_room_than_its_host_is_rejected():
    hosts = variant(esx_north_01={"rack": "main-A01", "rack_u": 30})
    assert "esx-north-01: rack: rack 'main-A01' stands in room 'main', but the host's room is 'branch-north'" \
        in problems(hosts)


def test_unknown_room_and_unknown_rack_are_named():
    hosts = variant(esx_north_01={"room": "branch-west", "rack": "west-R9"})
    found = problems(hosts)
    assert "esx-north-01: room: unknown room 'branch-west'; declare it in facility_rooms " \
           "(known: branch-north, main)" in found
    assert "esx-north-01: rack: unknown rack 'west-R9'; declare it in facility_racks" in found


def test_system_dependency_cycle_is_reported_once():
    fac = copy.deepcopy(FACILITY)
    fac["systems"]["basic-info"]["depends_on"] = ["pension"]
    assert problems(fac=fac) == [
        "system basic-info: depends_on: dependency cycle: basic-info -> pension -> basic-info"]


def test_dependency_order_puts_dependencies_first():
    systems = {"finance": {"depends_on": ["pension"]}, "pension": {"depends_on": ["basic-info"]},
               "basic-info": {}, "alpha": {}}
    assert facility.dependency_order(systems) == ["alpha", "basic-info", "pension", "finance"]


def test_flow_policy_matches_the_notice():
    assert facility.flow_allowed("production", "exchange")
    assert facility.flow_allowed("production", "decision")
    assert facility.flow_allowed("exchange", "decision")
    for src, dst in [("exchange", "production"), ("decision", "production"), ("decision", "exchange")]:
        assert not facility.flow_allowed(src, dst), f"{src}->{dst} must be forbidden"
    matrix = facility.flow_matrix()
    assert sum(v for row in matrix.values() for v in row.values()) == 3 + 3  # 3 flows + 3 intra-zone


def test_every_problem_line_names_subject_and_field():
    hosts = variant(esx_north_01={"zone": "exchange", "group_names": ["exchange", "production"], "rack_u": 100})
    for line in problems(hosts):
        subject, field, message = line.split(": ", 2)
        assert subject and field and message
