"""The network role's filters, as the collection exposes them (run by `make units`, ansible-test units)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.jinbao.dc.plugins.filter.network import FilterModule, svi_address

ZONES = {
    "production": {"vlan": 110, "vrf": "PROD", "subnet": "10.10.0.0/24"},
    "exchange": {"vlan": 120, "vrf": "EXCH", "subnet": "10.20.0.0/24"},
    "decision": {"vlan": 130, "vrf": "DEC", "subnet": "10.30.0.0/24"},
}


def test_every_filter_is_exported_under_its_name():
    assert set(FilterModule().filters()) == {"zone_acls", "vendor_acls", "svi_address", "network_tables",
                                              "network_batch_devices"}


def test_only_replies_flow_back_into_production_and_every_zone_acl_ends_in_a_logged_deny():
    acls = FilterModule().filters()["zone_acls"](ZONES)
    for zone in ("exchange", "decision"):
        into_production = [e for e in acls[zone]["entries"] if " 10.10.0.0 0.0.0.255" in e.split(" ", 3)[3]]
        assert into_production and all(e.startswith("permit tcp") and e.endswith(" established")
                                       for e in into_production), (zone, into_production)
    assert all(acl["entries"][-1] == "deny ip any any log" for acl in acls.values())


def test_the_svi_address_is_the_nth_host_with_its_mask():
    assert svi_address("10.10.0.0/24", 2) == "10.10.0.2 255.255.255.0"


def test_an_svi_host_outside_the_subnet_is_refused_naming_the_subnet():
    with pytest.raises(AnsibleFilterError, match=r"10\.10\.0\.0/30"):
        svi_address("10.10.0.0/30", 9)
