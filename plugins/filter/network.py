"""Filters for the network role: zone ACLs from the flow policy, SVI addresses (pure data, unit-tested)."""

from __future__ import annotations

import ipaddress

from ansible.errors import AnsibleFilterError

from ansible_collections.jinbao.dc.plugins.module_utils.policy import netpolicy


def zone_acls(networks: dict, exceptions: dict | None = None) -> dict:
    """zone -> {name, entries}: each zone's inbound SVI ACL, derived from facility.py's flow policy, with the
    zone's approved exceptions (network_acl_exceptions) before its final deny."""
    try:
        return netpolicy.zone_acls(networks, exceptions)
    except KeyError as exc:
        raise AnsibleFilterError(f"network_zones: {exc}") from None
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from None


def vendor_acls(acls: dict, vendor: str) -> dict:
    """zone_acls' entries in the device's own syntax (netdev_vendor): IOS/EOS as they are, Huawei VRP and H3C
    Comware as `permit tcp source A W destination B W tcp-flag established|established logging`."""
    try:
        return netpolicy.vendor_acls(acls, vendor)
    except (KeyError, ValueError) as exc:
        raise AnsibleFilterError(f"vendor_acls ({vendor}): {exc}") from None


def svi_address(subnet: str, host: int, style: str = "mask") -> str:
    """The address of the `host`-th address of `subnet`: '10.110.0.2 255.255.0.0' (mask) or '10.110.0.2/16'."""
    try:
        net = ipaddress.ip_network(subnet)
        address = net.network_address + int(host)
    except ValueError as exc:
        raise AnsibleFilterError(f"network_zones: subnet {subnet!r}: {exc}") from None
    if address not in net or address in (net.network_address, net.broadcast_address):
        raise AnsibleFilterError(f"network_zones: host {host} is outside subnet {subnet}")
    return f"{address}/{net.prefixlen}" if style == "prefix" else f"{address} {net.netmask}"


def network_tables(changes: list[dict], backups: dict, policy: dict | None) -> list[dict]:
    """The report's network section: changes per device, backups kept, and the zone-to-zone matrix of what
    the core pair runs against the flow policy. Empty when network.yml never ran."""
    if not changes and not backups and not policy:
        return []
    tables = [
        {"title": "Network: changes per device", "columns": ["device", "when (UTC)", "lines sent", "operator",
                                                            "backup before", "backup after"],
         "rows": [[c["device"], c["after"]["backup"].rsplit("/", 1)[-1].removesuffix(".cfg"), len(c["commands"]),
                   (c.get("operator") or {}).get("cn", "-"), c["before"]["backup"].rsplit("/", 1)[-1],
                   c["after"]["backup"].rsplit("/", 1)[-1]]
                  for c in sorted(changes, key=lambda c: c["after"]["backup"])]},
        {"title": "Network: configuration backups", "columns": ["device", "versions kept", "latest", "SHA-256",
                                                                "matches its .sha256"],
         "rows": [[d, b["count"], b["latest"], b["sha256"][:16], "yes" if b["verified"] else "NO"]
                  for d, b in sorted(backups.items())]},
    ]
    if policy:
        zones = list(policy["policy"])
        rows = []
        for src in zones:
            cells = []
            for dst in zones:
                if dst == src:
                    cells.append("-")
                    continue
                got, want = policy["matrix"][src][dst], policy["policy"][src][dst]
                cells.append(("open" if got else "closed") + ("" if got == want else " (BREAKS POLICY)"))
            rows.append([src, *cells])
        verdict = "matches the flow policy" if policy.get("passed") else "BREAKS the flow policy"
        tables.append({"title": f"Network: zone-to-zone reachability of the running configuration ({verdict})",
                       "columns": ["from (row) → to (column)", *zones], "rows": rows})
    return tables


_DEVICE_VARS = {"host": "ansible_host", "device_type": "netdev_device_type", "vendor": "netdev_vendor",
                "username": "netdev_username", "password": "netdev_password", "known_hosts": "netdev_known_hosts",
                "intended": "__network_intended"}


def network_batch_devices(batch: list, hostvars, managed: dict) -> list[dict]:
    """netdev_config_batch's `devices` for the hosts of a play batch: each one's connection (inventory),
    intended configuration (rendered by the role on that host), the lines its role manages and its side of
    a redundant pair (network_pair_side, a when unpaired)."""
    out = []
    for host in batch:
        hv = hostvars[host]
        device = {"name": host, "port": int(hv.get("ansible_port") or 22), "secret": hv.get("netdev_secret"),
                  "fast_cli": hv.get("netdev_fast_cli", True), "side": str(hv.get("network_pair_side", "a")),
                  "role": hv.get("netdev_role", ""), "managed": list((managed or {}).get(hv.get("netdev_role"), []))}
        for key, var in _DEVICE_VARS.items():
            if hv.get(var) in (None, ""):
                raise AnsibleFilterError(f"{host}: {var}: missing; set it in the inventory (group_vars/network)")
            device[key] = hv[var]
        out.append(device)
    return out


class FilterModule:
    def filters(self):
        return {"zone_acls": zone_acls, "vendor_acls": vendor_acls, "svi_address": svi_address,
                "network_tables": network_tables, "network_batch_devices": network_batch_devices}
