#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read a vCenter's whole inventory in a few PropertyCollector round trips and shape the asset register."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vsphere_discover
short_description: Build the asset register from a vCenter and compare it with the inventory
description:
  - Logs in to one vCenter and reads every datacenter, folder, cluster, host, datastore and VM through the
    PropertyCollector (a ContainerView, RetrievePropertiesEx in pages of I(page_size)), never one call per object.
  - "Shapes the asset register: per VM its name, uuid, cpu, memory_mb, disk_bytes, host, cluster, datacenter,
    datastores, power_state, zone, system, owner (from custom attributes), room and folder; plus datacenters,
    clusters, hosts, datastores and counts."
  - Derives each host's room from I(rooms) (the nearest mapped folder, cluster or datacenter name).
  - Reports differences with the inventory (ESXi hosts missing on either side, room disagreements) and with the
    facility policy (VMs without zone or system, systems not in I(systems), zone disagreeing with the system's,
    exchange/decision VMs outside the main room).
  - Reads only; it changes nothing in vCenter and writes no file. It returns the register as JSON and CSV text
    so that the caller writes them (the discover role uses M(ansible.builtin.copy), which gives atomic,
    idempotent writes with check mode and diff).
  - Every failure is one line naming the vCenter (I(name)) and the inventory field to fix.
version_added: "1.0.0"
author: jinbao-dc maintainers (@jinbao-dc)
extends_documentation_fragment: [jinbao.dc.vsphere]
options:
  page_size:
    description: Objects per PropertyCollector page.
    type: int
    default: 1000
  rooms:
    description: Datacenter, folder or cluster name to room (C(main) or C(branch-<name>)).
    type: dict
    default: {}
  inventory_hosts:
    description: The ESXi hosts of the inventory, each with its declared room (or null).
    type: dict
    default: {}
  systems:
    description: The business systems declared in the inventory (C(facility_systems)), with at least C(zone).
    type: dict
    default: {}
  attributes:
    description: Register field (C(zone), C(system), C(owner)) to the vCenter custom attribute that holds it.
    type: dict
    default: {zone: zone, system: system, owner: owner}
  decommissioned:
    description:
      - The decommission record (reports/decommission.json) - rooms, hosts and datastores taken out of
        service. Its hosts are marked C(lifecycle=decommissioned) and the record is kept in the register,
        so the removed datastores stay on file.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Read the vCenter inventory
  jinbao.dc.vsphere_discover:
    name: "{{ inventory_hostname }}"
    hostname: "{{ vcenter_hostname }}"
    port: "{{ vcenter_port }}"
    username: "{{ vcenter_username }}"
    password: "{{ vcenter_password }}"
    ca_file: "{{ vcenter_ca_file }}"
    rooms: {central: main, branch-north: branch-north}
    inventory_hosts: {esx-north-01: branch-north}
    systems: "{{ facility_systems }}"
  register: __discover_collect
  no_log: true
"""

RETURN = r"""
register_json:
  description: The asset register as the text of assets.json (sorted keys, no timestamp).
  type: str
  returned: success
register_csv:
  description: One CSV line per VM (name, uuid, cpu, memory_mb, disk_bytes, host, cluster, datacenter, datastores,
    power_state, zone, system, owner, room, folder).
  type: str
  returned: success
counts:
  description: Datacenters, clusters, hosts, datastores and VMs; VMs per room and per room and zone; differences.
  type: dict
  returned: success
  sample: {vms: 77, hosts: 16, vms_by_room: {main: 26, branch-north: 22}}
differences:
  description: 'One line per difference, "<subject>: <field>: <what disagrees>".'
  type: list
  elements: str
  returned: success
summary:
  description: A small table of VMs per room and zone followed by the totals, one string per line.
  type: list
  elements: str
  returned: success
elapsed:
  description: Seconds spent connecting and reading the inventory.
  type: dict
  returned: success
  sample: {connect: 0.12, collect: 0.8}
"""

import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.jinbao.dc.plugins.module_utils.consolidation.asset_register import (
    build,
    summary_table,
    to_csv,
    to_json,
)
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vsphere import (
    HAS_PYVMOMI,
    PYVMOMI_IMPORT_ERROR,
    VSphereError,
    argument_spec,
    collect,
    connect,
    disconnect,
    endpoint,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(
            page_size={"type": "int", "default": 1000},
            rooms={"type": "dict", "default": {}},
            inventory_hosts={"type": "dict", "default": {}},
            systems={"type": "dict", "default": {}},
            attributes={"type": "dict", "default": {"zone": "zone", "system": "system", "owner": "owner"}},
            decommissioned={"type": "dict", "default": {}},
        ),
        supports_check_mode=True,
    )
    if not HAS_PYVMOMI:
        module.fail_json(msg=missing_required_lib("pyvmomi"), exception=str(PYVMOMI_IMPORT_ERROR))
    p = module.params
    ep = endpoint(p)
    started = time.monotonic()
    try:
        si = connect(ep)
        connected = time.monotonic()
        try:
            raw = collect(si, ep, page_size=max(1, p["page_size"]))
        finally:
            disconnect(si)
    except VSphereError as exc:
        module.fail_json(msg=str(exc), field=exc.field)
    except Exception as exc:  # one line for the operator; the traceback only with -vvv
        module.fail_json(msg=f"{ep.name}: vcenter_hostname: reading {ep.address} failed unexpectedly "
                             f"({type(exc).__name__}: {exc})", exception=traceback.format_exc())
    collected = time.monotonic()
    try:
        register = build(raw, vcenter={"name": ep.name, "hostname": ep.hostname, "port": ep.port},
                         rooms=p["rooms"], inventory_hosts=p["inventory_hosts"], systems=p["systems"],
                         attributes=p["attributes"], decommissioned=p["decommissioned"])
    except Exception as exc:  # a bug here must still end in one line
        module.fail_json(msg=f"{ep.name}: register: shaping the asset register failed ({type(exc).__name__}: {exc})",
                         exception=traceback.format_exc())
    module.exit_json(
        changed=False,
        register_json=to_json(register),
        register_csv=to_csv(register),
        counts=register["counts"],
        differences=[d["line"] for d in register["differences"]],
        summary=summary_table(register),
        elapsed={"connect": round(connected - started, 3), "collect": round(collected - connected, 3),
                 "shape": round(time.monotonic() - collected, 3)},
    )


if __name__ == "__main__":
    main()
