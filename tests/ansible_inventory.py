"""Read an inventory in-process with Ansible's own loader, the way ansible-playbook does.

One ansible-playbook start costs tens of seconds on a loaded 2-core machine, so tests that only need
"what would the preflight see for this inventory" load it here instead. A couple of tests still run
the real playbook end to end (tests/unit/test_validate_inventory.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ROOT


def facility_input(inventory: Path) -> tuple[dict, dict]:
    """(hosts, facility) exactly as roles/preflight hands them to facility_validate."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    from ansible_collections.jinbao.dc.plugins.filter import facility_view as view

    loader = DataLoader()
    inv = InventoryManager(loader=loader, sources=[str(inventory)])
    variables = VariableManager(loader=loader, inventory=inv)
    keys = list(json.loads((ROOT / "inventory/schema/host.schema.json").read_text())["properties"])
    hostvars = {}
    for host in inv.get_hosts():
        hv = variables.get_vars(host=host, include_hostvars=False)
        templar = Templar(loader=loader, variables=hv)
        hostvars[host.name] = {k: templar.template(v) for k, v in hv.items()
                               if k in keys or k == "group_names" or k.startswith("facility_")}
    any_host = next(iter(hostvars.values()), {})
    facility = {key: any_host.get(f"facility_{key}", default)
                for key, default in (("tier", None), ("city", ""), ("rooms", []), ("racks", {}), ("systems", {}))}
    return view.facility_host_view(hostvars, list(hostvars), keys), facility


def preflight_problems(inventory: Path) -> list[str]:
    """The problem lines the facility_validate module would report for this inventory."""
    hosts, facility = facility_input(inventory)
    from ansible_collections.jinbao.dc.plugins.modules import facility_validate as module

    schemas = {n: json.loads((ROOT / f"inventory/schema/{n}.schema.json").read_text()) for n in ("host", "facility")}
    return module.inventory_problems(hosts, facility, schemas)
