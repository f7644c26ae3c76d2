"""Read an inventory in-process with Ansible's own loader, the way ansible-playbook does.

One ansible-playbook start costs tens of seconds on a loaded 2-core machine, so tests that only need
"what would the preflight see for this inventory" load it here instead. A couple of tests still run
the real playbook end to end (tests/unit/test_validate_inventory.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from conftest import ROOT, load_plugin_module

_loaded = False


def _init() -> None:
    global _loaded
    if _loaded:
        return
    from ansible.plugins.loader import init_plugin_loader

    init_plugin_loader([str(ROOT / ".cache" / "collections")])
    _loaded = True


def facility_input(inventory: Path) -> tuple[dict, dict]:
    """(hosts, facility) exactly as roles/preflight hands them to facility_validate."""
    _init()
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    view = load_plugin_module("plugins/filter/facility_view.py", "jinbao_facility_view")
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
    facility_utils = load_plugin_module("plugins/module_utils/facility.py", "jinbao_facility")
    sys.modules.setdefault("ansible.module_utils.facility", facility_utils)
    module = load_plugin_module("plugins/modules/facility_validate.py", "jinbao_facility_validate")
    hosts, facility = facility_input(inventory)
    schemas = {n: json.loads((ROOT / f"inventory/schema/{n}.schema.json").read_text()) for n in ("host", "facility")}
    return module.inventory_problems(hosts, facility, schemas)
