#!/usr/bin/python
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
  - Reads only.
extends_documentation_fragment: [netdev]
author: jinbao-dc
"""

EXAMPLES = r"""
- name: Read core-01
  netdev_facts:
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

import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.netdev import CONNECTION_ARGS, NetdevError, command, connect, disconnect, parse, vendor

COMMANDS = {
    "cisco": {"version": "show version", "interfaces": "show interfaces status", "vlans": "show vlan brief",
              "lldp": "show lldp neighbors"},
    "arista": {"version": "show version", "interfaces": "show interfaces status", "vlans": "show vlan",
               "lldp": "show lldp neighbors"},
    "huawei": {"version": "display version", "interfaces": "display interface brief", "vlans": "display vlan",
               "lldp": "display lldp neighbor brief"},
    "h3c": {"version": "display version", "interfaces": "display interface brief", "vlans": "display vlan",
            "lldp": "display lldp neighbor brief"},
    "cisco_asa": {"version": "show version", "interfaces": "show interface ip brief"},
}


def main() -> None:
    module = AnsibleModule(argument_spec=dict(CONNECTION_ARGS), supports_check_mode=True)
    p = module.params
    facts, unsupported, parsed = {}, [], []
    try:
        v = vendor(p["name"], p["vendor"])
        conn = connect(**p)
        try:
            for key, cmd in COMMANDS[p["vendor"]].items():
                text = command(p["name"], conn, cmd)
                if re.search(v.error_pattern + r"|Unknown command|No such command", text):
                    unsupported.append(cmd)
                    continue
                records = parse(v, cmd, text)
                facts[key] = text if records is None else records
                if records is not None:
                    parsed.append(key)
        finally:
            disconnect(conn)
    except NetdevError as exc:
        module.fail_json(msg=str(exc), field=exc.field)
    facts["parsed"] = parsed
    module.exit_json(changed=False, facts=facts, unsupported=unsupported)


if __name__ == "__main__":
    main()
