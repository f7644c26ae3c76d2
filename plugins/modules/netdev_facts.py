#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read a device's version, interfaces, VLANs and LLDP neighbours, parsed with ntc-templates where one exists."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: netdev_facts
short_description: Read version, interfaces, VLANs and LLDP neighbours from a switch or firewall
description:
  - Runs the platform's show/display commands and parses each with TextFSM (ntc-templates) where a template
    exists for the netmiko device type; otherwise the text is returned as it came.
  - A command the platform does not have is reported in C(unsupported), not as a failure.
  - Reads the device only. With I(facts_file), what the network's inventory keeps of the facts (the parsed
    records without uptimes and timers) is written there as JSON; changed only when that file changes.
extends_documentation_fragment: [jinbao.dc.netdev]
options:
  facts_file: {description: Where to keep the facts summary (JSON)., type: path}
  role:
    description: The device's role (core, access, firewall) written into I(facts_file).
    type: str
    default: ""
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: Read core-01
  jinbao.dc.netdev_facts:
    name: core-01
    host: 127.0.0.1
    port: 18801
    device_type: cisco_ios
    vendor: cisco
    username: jinbao-lab
    password: "{{ netdev_password }}"
    known_hosts: .lab/netdev/known_hosts
"""

RETURN = r"""
facts:
  description:
    - version, interfaces, vlans, lldp - each a list of parsed records, or the raw text.
    - parsed lists which of them were parsed.
  type: dict
  returned: success
unsupported:
  description: The commands the device refused.
  type: list
  elements: str
  returned: success
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.jinbao.dc.plugins.module_utils.seams.netdev import (
    CONNECTION_ARGS,
    NetdevError,
    connect,
    disconnect,
    facts_summary,
    read_facts,
    vendor,
    write_report,
)


def main() -> None:
    module = AnsibleModule(argument_spec={**CONNECTION_ARGS, "facts_file": {"type": "path"},
                                          "role": {"type": "str", "default": ""}},
                           supports_check_mode=True)
    p = module.params
    try:
        v = vendor(p["name"], p["vendor"])
        conn = connect(**p)
        try:
            facts, unsupported = read_facts(p["name"], conn, v, p["vendor"])
        finally:
            disconnect(conn)
    except NetdevError as exc:
        module.fail_json(msg=str(exc), field=exc.field)
    changed = False
    if p["facts_file"]:
        record = {"device": p["name"], "vendor": p["vendor"], "role": p["role"], "unsupported": unsupported,
                  **facts_summary(facts)}
        changed = write_report(p["facts_file"], record, module.check_mode)
    module.exit_json(changed=changed, facts=facts, unsupported=unsupported)


if __name__ == "__main__":
    main()
