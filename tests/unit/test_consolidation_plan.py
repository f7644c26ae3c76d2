"""The consolidation planner: waves, placement rules, capacity and physical moves, without the lab."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.jinbao.dc.plugins.module_utils.consolidation import planning

GIB = 1024 ** 3
SYSTEMS = {
    "basic-info": {"zone": "production"},
    "pension": {"zone": "production", "depends_on": ["basic-info"]},
    "finance": {"zone": "production", "depends_on": ["pension"]},
    "cross-region": {"zone": "exchange"},
}


def host(name, cluster, room, cores=32, mem_gb=256):
    return {"name": name, "cluster": cluster, "room": room, "cpu_cores": cores, "memory_mb": mem_gb * 1024,
            "connection_state": "connected", "maintenance": False}


def vm(name, system, zone="production", room="branch-north", cpu=2, mem=4096, disk_gb=40, cluster=None):
    return {"name": name, "uuid": f"uuid-{name}", "system": system, "zone": zone, "room": room, "cpu": cpu,
            "memory_mb": mem, "disk_bytes": disk_gb * GIB, "host": "esx-north-01", "cluster": cluster,
            "power_state": "poweredOn", "datastores": ["north-local"], "template": False}


def register(vms):
    return {
        "source": {"vcenter": "vc-central"},
        "clusters": [
            {"name": "production", "type": "cluster", "room": "main", "hosts": ["p1", "p2", "p3"],
             "datastores": ["prod-ds1", "prod-ds2"]},
            {"name": "exchange", "type": "cluster", "room": "main", "hosts": ["x1", "x2"],
             "datastores": ["exch-ds1"]},
        ],
        "hosts": [host("p1", "production", "main"), host("p2", "production", "main"),
                  host("p3", "production", "main"), host("x1", "exchange", "main"), host("x2", "exchange", "main"),
                  host("esx-north-01", None, "branch-north")],
        "datastores": [
            {"name": "prod-ds1", "capacity_bytes": 1000 * GIB, "free_bytes": 900 * GIB},
            {"name": "prod-ds2", "capacity_bytes": 1000 * GIB, "free_bytes": 500 * GIB},
            {"name": "exch-ds1", "capacity_bytes": 1000 * GIB, "free_bytes": 1000 * GIB},
        ],
        "vms": vms,
    }


VMS = ([vm(f"pension-app-{i:02d}", "pension") for i in range(1, 5)]
       + [vm(f"basic-info-db-{i:02d}", "basic-info") for i in range(1, 3)]
       + [vm(f"finance-app-{i:02d}", "finance") for i in range(1, 4)]
       + [vm("cross-region-01", "cross-region", zone="exchange", room="main", cluster="exchange")])


def make(vms=VMS, **options):
    return planning.plan(register(vms), systems=SYSTEMS, options={"wave_size": 5, **options})


def test_waves_follow_dependency_order_and_size():
    plan = make()
    assert plan["errors"] == []
    assert [w["systems"] for w in plan["waves"]] == [["basic-info"], ["pension"], ["finance"]]
    assert all(len(w["vms"]) <= 5 for w in plan["waves"])
    assert plan["summary"]["vms"] == 9


def test_vms_already_in_the_main_room_do_not_move():
    names = {v["name"] for w in make()["waves"] for v in w["vms"]}
    assert "cross-region-01" not in names


def test_a_system_larger_than_a_wave_spans_waves_of_its_own():
    vms = [vm(f"pension-app-{i:02d}", "pension") for i in range(12)]
    plan = make(vms)
    assert [len(w["vms"]) for w in plan["waves"]] == [5, 5, 2]


def test_each_vm_targets_its_zone_cluster_and_the_datastore_with_most_room():
    plan = make()
    first = plan["waves"][0]["vms"][0]
    assert first["target"]["cluster"] == "production"
    assert first["target"]["datastore"] == "prod-ds1"  # 900 GiB free beats 500 GiB
    assert first["target"]["folder"] == "production/basic-info"


def test_vm_marked_with_another_zone_than_its_system_is_refused():
    vms = [*VMS, vm("pension-odd", "pension", zone="exchange")]
    plan = make(vms)
    assert ("pension-odd: zone: VM is marked exchange but system 'pension' is declared production; "
            "a VM may not move into another zone's cluster (fix the register or declare a correction "
            "in plan_vm_corrections)") in plan["errors"]


def test_vm_without_zone_is_named():
    plan = make([*VMS, vm("mystery-01", "pension", zone=None)])
    assert ("mystery-01: zone: None is not a data zone; set the VM's zone attribute, or declare a correction "
            "in plan_vm_corrections, before it can be planned") in plan["errors"]


def test_a_declared_correction_plans_the_vm_and_is_recorded():
    vms = [*VMS, vm("mystery-01", "pension", zone=None), vm("pension-odd", "pension", zone="exchange")]
    fixes = {"mystery-01": {"zone": "production", "reason": "CHG-1: owner confirmed"},
             "pension-odd": {"zone": "production", "reason": "CHG-2: mislabelled"}}
    plan = make(vms, corrections=fixes)
    assert plan["errors"] == []
    planned = {e["name"]: e for w in plan["waves"] for e in w["vms"]}
    assert planned["mystery-01"]["target"]["cluster"] == "production"
    assert planned["pension-odd"]["zone"] == "production"
    assert plan["corrections"] == [
        {"vm": "mystery-01", "reason": "CHG-1: owner confirmed", "before": {"zone": None},
         "after": {"zone": "production"}},
        {"vm": "pension-odd", "reason": "CHG-2: mislabelled", "before": {"zone": "exchange"},
         "after": {"zone": "production"}}]


@pytest.mark.parametrize(("fix", "message"), [
    ({"ghost-01": {"zone": "production", "reason": "x"}},
     "ghost-01: corrections: no VM of that name in the asset register; remove the correction or fix its name"),
    ({"pension-app-01": {"zone": "production"}},
     "pension-app-01: corrections: a correction needs a reason (who decided, and why)"),
    ({"pension-app-01": {"cpu": 64, "reason": "x"}},
     "pension-app-01: corrections: cannot correct cpu; only zone, system can be corrected"),
])
def test_a_bad_correction_is_named(fix, message):
    assert message in make(corrections=fix)["errors"]


def test_wave_that_does_not_fit_names_resource_and_shortfall():
    # 2 of 3 hosts usable after N+1: 64 cores * 4 = 256 vCPU.
    vms = [vm(f"basic-info-big-{i}", "basic-info", cpu=64) for i in range(5)]
    plan = make(vms)
    assert plan["errors"] == ["wave 1: cpu: cluster production needs 320 vCPU after this wave but has 256 vCPU "
                              "with 1 host(s) held in reserve (short by 64 vCPU)"]


def test_datastore_fill_limit_is_respected():
    vms = [vm("basic-info-huge", "basic-info", disk_gb=750)]
    plan = make(vms, datastore_fill_limit=0.8)
    assert "wave 1: datastore: VM basic-info-huge needs 750.0 GiB but no datastore of cluster production " \
           "has that much below the 80% fill limit" in plan["errors"]


PHYS_RACKS = {"main-A01": {"room": "main", "units": 10, "power_budget_w": 3000},
              "main-A02": {"room": "main", "units": 10, "power_budget_w": 3000}}


def test_physical_servers_get_rack_u_power_and_port_in_the_main_room():
    servers = {"db-north-01": {"room": "branch-north", "rack": "north-R1", "rack_u": 20, "rack_units": 4,
                               "power_w": 1200, "zone": "production", "system": "basic-info",
                               "switch": "acc-north-01", "switch_port": "Gi1/0/7"}}
    rack_hosts = {"p1": {"rack": "main-A01", "rack_u": 1, "rack_units": 2, "power_w": 2000}}
    plan = planning.plan(register([]), systems=SYSTEMS, servers=servers, racks=PHYS_RACKS, rack_hosts=rack_hosts,
                         options={"access_ports": {"acc-main-01": "Gi1/0/1-2"}})
    assert plan["errors"] == []
    move = plan["physical_moves"][0]
    # main-A01 has U3-U10 free but only 1000 W left: the 1200 W server goes to main-A02 U1.
    assert move["target"] == {"room": "main", "rack": "main-A02", "rack_u": 1, "rack_units": 4,
                              "switch": "acc-main-01", "switch_port": "Gi1/0/1"}
    assert move["recabling"][0] == "unplug db-north-01 from acc-north-01 Gi1/0/7 in branch-north"
    assert plan["port_assignments"] == [{"switch": "acc-main-01", "port": "Gi1/0/1", "host": "db-north-01",
                                         "zone": "production"}]


def test_physical_server_that_fits_nowhere_is_named():
    servers = {"db-big": {"room": "branch-north", "rack_units": 12, "power_w": 100, "zone": "production"}}
    plan = planning.plan(register([]), systems=SYSTEMS, servers=servers, racks=PHYS_RACKS, rack_hosts={})
    assert plan["errors"] == ["db-big: rack: no rack in room 'main' has 12 contiguous free U and 100 W of power "
                              "budget left"]


@pytest.mark.parametrize("wave_size", [1, 3, 7, 50])
def test_every_branch_vm_is_planned_exactly_once(wave_size):
    plan = make(wave_size=wave_size)
    names = [v["name"] for w in plan["waves"] for v in w["vms"]]
    assert sorted(names) == sorted(v["name"] for v in VMS if v["room"] != "main")


def test_planning_does_not_modify_the_register():
    reg = register(copy.deepcopy(VMS))
    before = copy.deepcopy(reg)
    planning.plan(reg, systems=SYSTEMS)
    assert reg == before
