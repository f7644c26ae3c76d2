"""The preflight's inventory check on broken copies of inventory/example.

Each case breaks one thing and checks the one line that names the host and the field. The cases read
the inventory in-process through Ansible's own loader (tests/ansible_inventory.py); two cases run
ansible-playbook preflight.yml end to end, which is what `make validate` does.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible_inventory import preflight_problems

from conftest import ROOT, VENV_BIN

EXAMPLE = ROOT / "inventory" / "example"


def run_preflight(inventory: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), "playbooks/preflight.yml"],
                          cwd=ROOT, capture_output=True, text=True, timeout=1200)


def edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    inv = tmp_path / "inventory"
    shutil.copytree(EXAMPLE, inv)
    return inv


def groups(inv: Path, change) -> None:
    edit(inv / "hosts.yml", lambda d: change(d["all"]["children"]))


def hostvars(inv: Path, host: str, **fields) -> None:
    edit(inv / "host_vars" / f"{host}.yml", lambda d: d.update(fields))


def test_example_inventory_is_valid(inventory):
    assert preflight_problems(inventory) == []


CASES = {
    "missing_zone": (
        lambda inv: groups(inv, lambda g: g["decision"]["hosts"].pop("esx-dec-01")),
        "esx-dec-01: zone: missing; set zone to one of production, exchange, decision, management"),
    "unknown_zone": (
        lambda inv: hostvars(inv, "esx-dec-01", zone="dmz"),
        "esx-dec-01: zone: 'dmz' is not one of ['production', 'exchange', 'decision', 'management']"),
    "host_in_two_zones": (
        lambda inv: groups(inv, lambda g: g["exchange"]["hosts"].update({"esx-dec-01": None})),
        "esx-dec-01: zone: host is in two zones (decision, exchange); a host belongs to exactly one zone group"),
    "exchange_outside_main_room": (
        lambda inv: (groups(inv, lambda g: (g["room_main"]["hosts"].pop("esx-exch-01"),
                                            g["room_branch_old_town"]["hosts"].update({"esx-exch-01": None}))),
                     hostvars(inv, "esx-exch-01", rack="oldtown-R1", rack_u=20)),
        "esx-exch-01: room: exchange assets must sit in the main machine room from day one (notice §3), "
        "but room is 'branch-old-town'"),
    "new_production_outside_main_room": (
        lambda inv: hostvars(inv, "esx-oldtown-01", lifecycle="new"),
        "esx-oldtown-01: room: a new production system must be built in the main machine room (notice §3), "
        "but room is 'branch-old-town'"),
    "two_devices_in_one_rack_unit": (
        lambda inv: hostvars(inv, "esx-exch-01", rack_u=3),
        "esx-prod-01: rack_u: main-A01 U3 is already occupied by esx-exch-01; two devices cannot share a rack unit"),
    "rack_over_power_budget": (
        lambda inv: hostvars(inv, "esx-prod-01", power_w=7000),
        "rack main-A01: power_budget_w: declared load 8200 W exceeds the budget of 8000 W by 200 W "
        "(hosts: esx-dec-01, esx-exch-01, esx-prod-01)"),
    "malformed_rack_unit": (
        lambda inv: hostvars(inv, "esx-prod-01", rack_u="twelve"),
        "esx-prod-01: rack_u: 'twelve' is not of type 'integer'"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_inventory_is_reported_in_one_line_naming_host_and_field(inventory, case):
    breaker, expected = CASES[case]
    breaker(inventory)
    assert expected in preflight_problems(inventory)


def test_preflight_playbook_fails_on_a_bad_inventory_with_the_line(inventory):
    breaker, expected = CASES["two_devices_in_one_rack_unit"]
    breaker(inventory)
    proc = run_preflight(inventory)
    assert proc.returncode != 0, "preflight passed on a broken inventory"
    assert expected in proc.stdout, f"expected line not found:\n{expected}\n--- output:\n{proc.stdout}"
    assert "Traceback" not in proc.stdout + proc.stderr


def test_malformed_yaml_names_the_host_and_the_file(inventory):
    (inventory / "host_vars" / "esx-prod-01.yml").write_text("---\nrack: [main-A01\nrack_u: 2\n")
    proc = run_preflight(inventory)
    out = " ".join((proc.stdout + proc.stderr).split())  # the result callback folds long lines
    assert proc.returncode != 0
    assert "esx-prod-01: variables: cannot be read from " in out
    assert "host_vars/esx-prod-01.yml line 3" in out
