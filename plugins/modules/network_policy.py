#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline policy check: the zone-to-zone reachability of the rendered configs against the flow policy."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: network_policy
short_description: Prove from configurations alone that the network enforces the zone flow policy
description:
  - Reads the configurations of the routing devices (rendered by the network role, or running ones from
    backups), finds each zone's SVI and the ACL applied inbound on it, and computes for every pair of zones
    whether a host of one can open a connection to the other, and the ACL line that decides it.
  - Compares that matrix with the flow policy of plugins/module_utils/policy/facility.py (management may reach every
    zone; nothing flows back into production) and fails, naming device, ACL line and flow for every difference,
    and every router without an SVI for a zone.
  - Needs no device. Writes the matrix and the decisions to I(report) (JSON) when given.
options:
  source:
    description:
      - C(intended) - check the configurations given in I(configs) (rendered by the network role).
      - C(running) - check what the routers run - for a router with a configuration in I(configs) that one (under
        C(--check), what M(jinbao.dc.netdev_config_batch) read from the device, as nothing is backed up), else its
        latest backup in I(backup_dir).
    type: str
    choices: [intended, running]
    default: intended
  configs:
    description: "Device name to its configuration (text) - the rendered one (source=intended) or the running one
      (source=running; a router not given here is read from its latest backup)."
    type: dict
    default: {}
  backup_dir:
    description:
      - Where the routers' running configurations are kept (C(<backup_dir>/<router>/latest), as
        M(jinbao.dc.netdev_backup) and M(jinbao.dc.netdev_config_batch) write them); source=running.
    type: path
  networks: {description: "Zone to {vlan, subnet} (network_zones).", type: dict, required: true}
  routers:
    description: The devices that must route (and filter) every zone - the core pair.
    type: list
    elements: str
    required: true
  report: {description: Where to write the result (JSON)., type: path}
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: Check the rendered configurations against the flow policy
  jinbao.dc.network_policy:
    configs: {core-01: "{{ lookup('ansible.builtin.template', 'cisco/core.cfg.j2') }}"}
    networks: "{{ network_zones }}"
    routers: [core-01, core-02]
    report: reports/network/policy.json

- name: Check what the core pair runs (their latest backups)
  jinbao.dc.network_policy:
    source: running
    backup_dir: backups
    networks: "{{ network_zones }}"
    routers: [core-01, core-02]
"""

RETURN = r"""
matrix: {description: "matrix[src][dst]: a new connection from src to dst is possible.", type: dict, returned: always}
policy: {description: The same matrix as the flow policy wants it., type: dict, returned: always}
problems:
  description: Every difference, one line each.
  type: list
  elements: str
  returned: always
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.jinbao.dc.plugins.module_utils.policy.netpolicy import check, policy_matrix


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "source": {"type": "str", "choices": ["intended", "running"], "default": "intended"},
            "configs": {"type": "dict", "default": {}},
            "backup_dir": {"type": "path"},
            "networks": {"type": "dict", "required": True},
            "routers": {"type": "list", "elements": "str", "required": True},
            "report": {"type": "path"},
        },
        required_if=[("source", "running", ("backup_dir",))],
        supports_check_mode=True,
    )
    p = module.params
    texts = {str(device): str(text or "") for device, text in p["configs"].items()}
    for router in p["routers"]:
        if p["source"] == "intended":
            if not texts.get(router, "").strip():
                module.fail_json(msg=f"network_policy: {router}: no intended configuration in configs")
            continue
        if texts.get(router, "").strip():
            continue  # read from the device in this run (check mode backs nothing up)
        latest = os.path.join(p["backup_dir"], router, "latest")
        try:
            with open(latest, encoding="utf-8") as fh:
                texts[router] = fh.read()
        except OSError as exc:
            module.fail_json(msg=f"network_policy: {router}: its running configuration cannot be read from "
                                 f"{latest} ({exc.strerror}); back it up first (playbooks/network.yml)")
    try:
        result, problems = check(texts, p["networks"], p["routers"])
    except (ValueError, KeyError, IndexError) as exc:
        module.fail_json(msg=f"network_policy: a configuration or network_zones cannot be read: {exc}")
    policy = policy_matrix(p["networks"])
    changed = False
    if p["report"]:
        body = json.dumps({"matrix": result["matrix"], "policy": policy, "devices": result["devices"],
                           "problems": problems, "passed": not problems}, indent=1, sort_keys=True) + "\n"
        old = open(p["report"], encoding="utf-8").read() if os.path.exists(p["report"]) else None
        if old != body:
            changed = True
            if not module.check_mode:
                os.makedirs(os.path.dirname(os.path.abspath(p["report"])), exist_ok=True)
                with open(f"{p['report']}.tmp", "w", encoding="utf-8") as fh:
                    fh.write(body)
                os.replace(f"{p['report']}.tmp", p["report"])
    out = {"changed": changed, "matrix": result["matrix"], "policy": policy, "problems": problems}
    if problems:
        module.fail_json(msg=f"the network breaks the flow policy in {len(problems)} place(s): " + " | ".join(problems),
                         **out)
    module.exit_json(**out)


if __name__ == "__main__":
    main()
