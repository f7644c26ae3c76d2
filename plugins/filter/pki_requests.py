"""Filters for the PKI roles (pure data, unit-tested without the lab)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


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


class FilterModule:
    def filters(self):
        return {"service_cert_requests": service_cert_requests}
