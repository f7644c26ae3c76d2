"""Filters for the PKI roles and the report's PKI section (pure data, unit-tested without the lab)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.jinbao.dc.plugins.module_utils.pki import certificates as pki


def service_cert_requests(services: list[dict], domain: str) -> list[dict]:
    """The certificate requests for the platform's services: CN <name>.<domain>, which is also the first DNS
    SAN (clients check SANs, not the CN), then the service's own dns_sans and ip_sans."""
    out = []
    for i, svc in enumerate(services or []):
        if not isinstance(svc, dict) or not svc.get("name"):
            raise AnsibleFilterError(f"jinbao_services[{i}]: name: missing")
        cn = f"{svc['name']}.{domain}"
        dns = [cn] + [str(n) for n in svc.get("dns_sans") or [] if str(n) != cn]
        out.append({"name": str(svc["name"]), "common_name": cn, "dns_sans": dns,
                    "ip_sans": [str(a) for a in svc.get("ip_sans") or []]})
    return out


def pki_tables(state: dict) -> list[dict]:
    """The report's PKI section as tables (module_utils/pki/certificates.tables); empty without PKI state."""
    return pki.tables(state) if state else []


class FilterModule:
    def filters(self):
        return {"service_cert_requests": service_cert_requests, "pki_tables": pki_tables}
