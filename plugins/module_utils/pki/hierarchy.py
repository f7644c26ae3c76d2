"""A Vault (or OpenBao) PKI hierarchy kept as declared: one mount per CA, root -> intermediates, URLs, CRL,
auto-tidy, the default issuer's leaf_not_after_behavior, and the leaf roles (vault_pki's logic).

It talks to Vault only through the client seams/vault.py makes (seams/vault stays the only hvac importer), so
unit tests drive it with a fake client that records the calls.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import VaultError, call, read_or_none

try:
    from cryptography import x509
except ImportError:  # pragma: no cover - cryptography comes with ansible-core
    x509 = None

CRL_CONFIG = {"auto_rebuild": True, "enable_delta": False, "expiry": "72h"}


def _seconds(value: Any) -> int:
    """'87600h', '30d', '45m', '3600' or 3600 -> seconds."""
    text = str(value).strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


class Converger:
    """Brings a Vault's PKI to the declared hierarchy: reads what is there, changes only what differs.

    `client` is an authenticated hvac client (seams/vault.connect), or a fake with the same `sys` and `adapter`
    calls; `url` is the address the issuing/CRL/OCSP URLs point at. In check mode nothing is written and
    `changes` lists what would be.
    """

    def __init__(self, name: str, client: Any, url: str, *, check_mode: bool = False,
                 auto_tidy_interval: str = "12h") -> None:
        self.client, self.name = client, name
        self.check = check_mode
        self.changes: list[str] = []
        self.url = url.rstrip("/")
        self.auto_tidy_interval = auto_tidy_interval

    def change(self, line: str, fn, *args, **kwargs) -> None:
        self.changes.append(line)
        if not self.check:
            call(self.name, line, fn, *args, **kwargs)

    def read(self, path: str) -> dict[str, Any] | None:
        result = read_or_none(self.name, path, self.client.adapter.get, f"/v1/{path}")
        return (result or {}).get("data") if isinstance(result, dict) else None

    def ca_cert(self, mount: str) -> str:
        """The mount's CA certificate (PEM), or '' while it has none (or the mount does not exist yet)."""
        resp = call(self.name, f"{mount}/cert/ca", self.client.adapter.get, f"/v1/{mount}/cert/ca",
                    raise_exception=False)
        data = resp.json().get("data", {}) if hasattr(resp, "json") else (resp or {}).get("data", {})
        return (data or {}).get("certificate", "") or ""

    def mount(self, ca: dict[str, Any], mounts: dict[str, Any]) -> None:
        path, max_ttl = ca["mount"], _seconds(ca["ttl"])
        if f"{path}/" not in mounts:
            self.change(f"{path}: enable the pki secrets engine (max lease TTL {ca['ttl']})",
                        self.client.sys.enable_secrets_engine, backend_type="pki", path=path,
                        config={"max_lease_ttl": f"{max_ttl}s"}, description=ca["common_name"])
            return
        have = int(mounts[f"{path}/"].get("config", {}).get("max_lease_ttl") or 0)
        if have != max_ttl:
            self.change(f"{path}: max lease TTL {have}s -> {max_ttl}s", self.client.sys.tune_mount_configuration,
                        path=path, max_lease_ttl=f"{max_ttl}s")

    def issuer(self, ca: dict[str, Any], by_mount: dict[str, dict[str, Any]]) -> None:
        path = ca["mount"]
        if self.ca_cert(path) and not (self.check and any(c.startswith(f"{path}: enable") for c in self.changes)):
            return
        key = {"key_type": ca.get("key_type", "ec"), "key_bits": int(ca.get("key_bits", 256))}
        if not ca.get("parent"):
            self.change(f"{path}: generate the root CA '{ca['common_name']}' (key kept inside Vault)",
                        self.client.adapter.post, f"/v1/{path}/root/generate/internal",
                        json={"common_name": ca["common_name"], "ttl": ca["ttl"], "issuer_name": "default-issuer",
                              **key})
            return
        parent = by_mount[ca["parent"]]
        line = f"{path}: generate the intermediate CA '{ca['common_name']}', signed by {parent['mount']}"
        self.changes.append(line)
        if self.check:
            return
        csr = call(self.name, line, self.client.adapter.post, f"/v1/{path}/intermediate/generate/internal",
                   json={"common_name": ca["common_name"], **key})["data"]["csr"]
        signed = call(self.name, line, self.client.adapter.post, f"/v1/{parent['mount']}/root/sign-intermediate",
                      json={"csr": csr, "common_name": ca["common_name"], "ttl": ca["ttl"],
                            "use_csr_values": True})["data"]
        chain = "\n".join([signed["certificate"], *(signed.get("ca_chain") or [])[1:]])
        call(self.name, line, self.client.adapter.post, f"/v1/{path}/intermediate/set-signed",
             json={"certificate": chain})

    def settings(self, ca: dict[str, Any], fresh: bool) -> None:
        path = ca["mount"]
        urls = {"issuing_certificates": [f"{self.url}/v1/{path}/ca"],
                "crl_distribution_points": [f"{self.url}/v1/{path}/crl"],
                "ocsp_servers": [f"{self.url}/v1/{path}/ocsp"]}
        self.ensure(path, "config/urls", urls, fresh)
        self.ensure(path, "config/crl", CRL_CONFIG, fresh)
        tidy = {"enabled": True, "tidy_cert_store": True, "tidy_revoked_certs": True,
                "interval_duration": _seconds(self.auto_tidy_interval)}
        self.ensure(path, "config/auto-tidy", tidy, fresh)
        if not fresh:
            issuer = self.read(f"{path}/issuer/default") or {}
            if issuer.get("leaf_not_after_behavior") != "err":
                self.change(f"{path}: default issuer leaf_not_after_behavior -> err", self.client.adapter.post,
                            f"/v1/{path}/issuer/default", json={"leaf_not_after_behavior": "err"})
        else:
            self.changes.append(f"{path}: default issuer leaf_not_after_behavior -> err")

    def ensure(self, mount: str, endpoint: str, want: dict[str, Any], fresh: bool) -> None:
        have = {} if fresh else (self.read(f"{mount}/{endpoint}") or {})
        differs = sorted(k for k, v in want.items() if _normal(have.get(k)) != _normal(v))
        if differs:
            self.change(f"{mount}: {endpoint} {', '.join(differs)}", self.client.adapter.post,
                        f"/v1/{mount}/{endpoint}", json=want)

    def role(self, role: dict[str, Any], roots: set[str], fresh: set[str]) -> None:
        mount, name, want = role["mount"], role["name"], dict(role.get("settings") or {})
        if mount in roots:
            raise VaultError(self.name, f"roles.{name}", f"a role may not point at the root CA mount {mount}")
        have = {} if mount in fresh else (self.read(f"{mount}/roles/{name}") or {})
        differs = sorted(k for k, v in want.items() if _normal(have.get(k)) != _normal(v))
        if differs:
            self.change(f"{mount}: role {name} {', '.join(differs)}", self.client.adapter.post,
                        f"/v1/{mount}/roles/{name}", json=want)

    def run(self, cas: list[dict[str, Any]], roles: list[dict[str, Any]] = ()) -> dict[str, Any]:
        """Converge to `cas` (parents first) and `roles`; {changed, changes, chain[, diff]}. VaultError names
        what Vault refused or what is wrong in the declaration."""
        mounts = call(self.name, "sys/mounts", self.client.sys.list_mounted_secrets_engines)
        mounts = mounts.get("data", mounts)
        by_mount = {ca["mount"]: ca for ca in cas}
        for ca in cas:
            if ca.get("parent") and ca["parent"] not in by_mount:
                raise VaultError(self.name, f"cas.{ca['mount']}.parent", f"no CA with mount {ca['parent']} before it")
        fresh = set()
        for ca in cas:
            before = len(self.changes)
            self.mount(ca, mounts)
            if self.check and len(self.changes) > before and self.changes[-1].startswith(f"{ca['mount']}: enable"):
                fresh.add(ca["mount"])
            self.issuer(ca, by_mount)
            self.settings(ca, ca["mount"] in fresh)
        roots = {ca["mount"] for ca in cas if not ca.get("parent")}
        for role in roles:
            self.role(role, roots, fresh)
        chain = []
        if not self.check and x509 is not None:
            for ca in cas:
                pem = self.ca_cert(ca["mount"])
                if pem:
                    cert = x509.load_pem_x509_certificate(pem.encode())
                    chain.append({"mount": ca["mount"], "subject": cert.subject.rfc4514_string(),
                                  "issuer": cert.issuer.rfc4514_string(),
                                  "not_after": cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")})
        result = {"changed": bool(self.changes), "changes": self.changes, "chain": chain}
        if self.changes:
            result["diff"] = {"before": "", "after": "".join(f"{c}\n" for c in self.changes),
                              "after_header": "PKI changes"}
        return result


def _normal(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return sorted(str(v) for v in value)
    if isinstance(value, bool) or value is None:
        return value
    return str(value)
