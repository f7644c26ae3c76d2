"""The consolidation report: each check passes on a finished consolidation and names what fails it."""

from __future__ import annotations

import copy

from test_consolidation_plan import VMS, make, register

from ansible_collections.jinbao.dc.plugins.module_utils.consolidation import planning
from ansible_collections.jinbao.dc.plugins.module_utils.consolidation import report as consolidation_report


def moved(vms, plan):
    """The register after every wave: each planned VM sits in its target cluster in the main room."""
    targets = {e["name"]: e["target"] for w in plan["waves"] for e in w["vms"]}
    out = []
    for v in copy.deepcopy(vms):
        t = targets.get(v["name"])
        if t:
            v.update(room=t["room"], cluster=t["cluster"], host="p1", datastores=[t["datastore"]])
        out.append(v)
    return register(out)


def ledgers(plan, status="moved", skip=()):
    return {w["wave"]: {"vms": {e["name"]: {"status": "failed" if e["name"] in skip else status}
                                for e in w["vms"]}} for w in plan["waves"]}


def check(facts, name):
    return next(c for c in facts["checks"] if c["name"] == name)


def test_a_finished_consolidation_passes_every_check():
    plan = make()
    facts = consolidation_report.report(plan, moved(VMS, plan), ledgers(plan))
    assert facts["passed"], facts["checks"]
    assert facts["rooms_before"] == {"branch-north": {"production": 9}, "main": {"exchange": 1}}
    assert facts["rooms_after"] == {"main": {"exchange": 1, "production": 9}}
    assert facts["vms_per_zone"]["production"] == {"before": 9, "after": 9}
    assert [w["complete"] for w in facts["waves"]] == [True, True, True]


def test_a_vm_left_in_a_branch_room_fails_two_checks_and_is_named():
    plan = make()
    after = moved(VMS, plan)
    straggler = next(v for v in after["vms"] if v["name"] == "finance-app-02")
    straggler.update(room="branch-north", cluster=None, host="esx-north-01")
    facts = consolidation_report.report(plan, after, ledgers(plan, skip={"finance-app-02"}))
    assert not facts["passed"]
    assert check(facts, "branch_rooms_empty")["failures"] == ["finance-app-02 is in branch-north"]
    assert "finance-app-02 (production) is in esx-north-01, not production" in \
        check(facts, "every_vm_in_its_zone_cluster")["failures"]
    assert check(facts, "every_wave_complete")["failures"] == ["wave 3: finance-app-02 (failed)"]
    assert check(facts, "vm_count_per_zone_kept")["passed"]


def test_a_lost_vm_fails_the_count_per_zone():
    plan = make()
    after = moved(VMS, plan)
    after["vms"] = [v for v in after["vms"] if v["name"] != "pension-app-03"]
    facts = consolidation_report.report(plan, after, ledgers(plan))
    assert check(facts, "vm_count_per_zone_kept")["failures"] == ["production: 9 VM(s) before, 8 after"]


def test_a_wave_that_never_ran_is_open():
    plan = make()
    runs = ledgers(plan)
    del runs[2]
    facts = consolidation_report.report(plan, moved(VMS, plan), runs)
    failures = check(facts, "every_wave_complete")["failures"]
    assert len(failures) == 1 and failures[0].startswith("wave 2: pension-app-01 (not run)")


def test_corrections_count_a_vm_in_its_corrected_zone():
    vms = copy.deepcopy(VMS)
    vms[0]["zone"] = None  # pension-app-01 lost its zone label in vCenter
    plan = make(vms, corrections={"pension-app-01": {"zone": "production", "reason": "CHG-1"}})
    assert plan["errors"] == []
    facts = consolidation_report.report(plan, moved(vms, plan), ledgers(plan))
    assert facts["passed"], facts["checks"]
    assert facts["vms_per_zone"]["production"] == {"before": 9, "after": 9}


def test_tables_render_every_section_with_rows_as_wide_as_their_columns():
    plan = make()
    facts = consolidation_report.report(plan, moved(VMS, plan), ledgers(plan))
    tables = consolidation_report.tables(facts)
    assert [t["title"] for t in tables][:2] == ["Checks", "Rooms before → after (VMs per zone)"]
    for t in tables:
        assert all(len(row) == len(t["columns"]) for row in t["rows"]), t["title"]
    rooms = next(t for t in tables if t["title"].startswith("Rooms"))
    assert ["branch-north", "0 → 0", "9 → 0", "9 → 0"] in rooms["rows"]


def test_rooms_before_leaves_templates_out():
    vms = [*VMS, {**VMS[0], "name": "tmpl", "template": True}]
    assert planning.rooms_before(vms) == {"branch-north": {"production": 9}, "main": {"exchange": 1}}


def test_the_decommission_record_in_the_register_becomes_a_table():
    plan = make()
    after = moved(VMS, plan)
    after["decommissioned"] = {"rooms": ["branch-north"], "hosts": ["esx-north-01"],
                               "datastores": ["north-local"], "servers": [], "at": "2026-11-28T00:00:00Z"}
    tables = consolidation_report.tables(consolidation_report.report(plan, after, ledgers(plan)))
    table = next(t for t in tables if t["title"].startswith("Decommissioned"))
    assert table["rows"][:3] == [["rooms", "branch-north"], ["hosts: maintenance mode, disconnected", "esx-north-01"],
                                 ["datastores: removed", "north-local"]]
    without = consolidation_report.tables(consolidation_report.report(plan, moved(VMS, plan), ledgers(plan)))
    assert next(t for t in without if t["title"].startswith("Decommissioned"))["rows"] == []
