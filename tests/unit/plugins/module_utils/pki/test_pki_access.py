"""Vault's access controls (plugins/module_utils/pki/access.py, vault_access's logic) against a fake Vault client
that keeps what is written and records every write: policies, audit devices, audited fields, the KV mount, the
certificate login with the CA's CRL, and the duty groups; no lab."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import hvac
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.jinbao.dc.plugins.module_utils.pki.access import AccessConverger
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import VaultError

POLICIES = {"automation": 'path "pki-city/sign/operator" { capabilities = ["update"] }',
            "auditor": 'path "sys/audit" { capabilities = ["read"] }'}
AUDIT = [{"path": "file", "type": "file", "options": {"file_path": "/var/log/vault/audit.log"}}]
FIELDS = {"pki-city": {"request": ["common_name"], "response": ["serial_number", "certificate"]}}
KV = [{"path": "jinbao", "description": "facility credentials"}]
CERT = {"mount": "cert", "ca_mount": "pki-city",
        "roles": [{"name": "operators", "allowed_common_names": ["*.operators.example"], "token_ttl": 3600,
                   "token_max_ttl": 14400}]}
GROUPS = {"jinbao-duty-system-admin": ["jinbao-system-admin"], "jinbao-duty-audit-admin": ["jinbao-audit-admin"]}


def city_ca(revoked: tuple[int, ...] = ()) -> tuple[str, str]:
    """A CA certificate and its CRL (PEM), listing `revoked` serials."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "city CA")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=9))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True).sign(key, hashes.SHA256()))
    crl = x509.CertificateRevocationListBuilder().issuer_name(name).last_update(now).next_update(now + timedelta(1))
    for serial in revoked:
        crl = crl.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial)
                                          .revocation_date(now).build())
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            crl.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())


class FakeVault:
    """The hvac client surface vault_access uses (sys.*, secrets.pki reads, adapter get/post), over an in-memory
    Vault; every write method appends to `writes`."""

    def __init__(self, *, declarative_audit: bool = False) -> None:
        self.url = "https://vault.example:8200"
        self.session = type("Session", (), {"verify": "/etc/ssl/vault-ca.pem"})()
        self.policies: dict[str, str] = {}
        self.audit: dict[str, dict] = {}
        self.tunes: dict[str, dict] = {"pki-city": {}}
        self.auth_methods: dict[str, dict] = {"token/": {"type": "token"}}
        self.mounts: dict[str, dict] = {"pki-city/": {"type": "pki", "options": None}}
        self.raw: dict[str, dict] = {}
        self.ca_pem, self.crl_pem = city_ca()
        self.declarative_audit = declarative_audit
        self.writes: list[str] = []
        self.sys = self
        self.adapter = self
        self.secrets = type("Secrets", (), {"pki": self})()

    # sys: policies
    def read_acl_policy(self, name):
        if name not in self.policies:
            raise hvac.exceptions.InvalidPath(f"no policy named: {name}")
        return {"data": {"name": name, "policy": self.policies[name]}}

    def create_or_update_acl_policy(self, name, policy):
        self.writes.append(f"policy {name}")
        self.policies[name] = policy

    # sys: audit devices
    def list_enabled_audit_devices(self):
        return {"data": dict(self.audit)}

    def enable_audit_device(self, device_type, path, options):
        self.writes.append(f"audit {path}")
        if self.declarative_audit:
            raise hvac.exceptions.InvalidRequest(errors=["cannot enable audit device via API: audit devices are "
                                                         "declarative (server configuration only)"])
        self.audit[path] = {"type": device_type, "options": dict(options)}

    # sys: mount tuning
    def read_mount_configuration(self, path):
        if path not in self.tunes:
            raise hvac.exceptions.InvalidRequest(errors=[f"cannot fetch sysview for path {path!r}"])
        return {"data": dict(self.tunes[path])}

    def tune_mount_configuration(self, path, **settings):
        self.writes.append(f"tune {path}")
        self.tunes[path].update(settings)

    # sys: auth methods
    def list_auth_methods(self):
        return {"data": dict(self.auth_methods)}

    def enable_auth_method(self, method_type, path):
        self.writes.append(f"auth {path}")
        self.auth_methods[f"{path}/"] = {"type": method_type}

    # sys: secrets engines
    def list_mounted_secrets_engines(self):
        return {"data": dict(self.mounts)}

    def enable_secrets_engine(self, backend_type, path, options, description):
        self.writes.append(f"mount {path}")
        self.mounts[path] = {"type": backend_type, "options": dict(options)}

    # the PKI mount's public reads
    def read_ca_certificate(self, mount_point):
        return self.ca_pem

    def read_crl(self, mount_point):
        return self.crl_pem

    # raw API (auth/cert roles and CRLs, identity groups)
    def get(self, url):
        path = url.removeprefix("/v1/")
        if path.startswith("auth/cert/crls/") and path not in self.raw:
            raise hvac.exceptions.InvalidRequest(errors=["no such CRL pki-city"])
        if path not in self.raw:
            raise hvac.exceptions.InvalidPath(f"no {path}")
        return {"data": self.raw[path]}

    def post(self, url, json):
        path = url.removeprefix("/v1/")
        self.writes.append(f"write {path}")
        if path.startswith("auth/cert/crls/"):
            crl = x509.load_pem_x509_crl(json["crl"].encode())
            self.raw[path] = {"serials": {str(r.serial_number): {} for r in crl}}
        else:
            self.raw[path] = dict(json)


def converge(vault: FakeVault, check_mode: bool = False, **declared) -> dict:
    return AccessConverger("vault-01", vault, check_mode=check_mode).run(**declared)


def test_policies_are_created_then_left_alone_on_a_second_run():
    vault = FakeVault()
    first = converge(vault, policies=POLICIES)
    assert first["changes"] == ["policy auditor: create", "policy automation: create"]
    assert vault.policies == POLICIES and first["diff"]["after_header"] == "Vault access"
    vault.writes.clear()
    again = converge(vault, policies=POLICIES)
    assert again == {"changed": False, "changes": []} and vault.writes == []


def test_a_policy_edited_by_hand_is_put_back():
    vault = FakeVault()
    converge(vault, policies=POLICIES)
    vault.policies["automation"] = 'path "pki-city/*" { capabilities = ["sudo"] }'
    result = converge(vault, policies=POLICIES)
    assert result["changes"] == ["policy automation: update"] and vault.policies == POLICIES


def test_an_audit_device_that_differs_is_refused_naming_its_path_and_nothing_is_replaced():
    vault = FakeVault()
    vault.audit["file/"] = {"type": "file", "options": {"file_path": "/tmp/audit.log"}}
    with pytest.raises(VaultError, match=r"^vault-01: audit_devices\.file/: is file \{'file_path': '/tmp/audit.log'\}"
                                         r", declared file .*disable it by hand") as caught:
        converge(vault, audit_devices=AUDIT)
    assert caught.value.field == "audit_devices.file/" and vault.writes == []


def test_an_audit_device_path_in_another_spelling_is_the_same_device():
    vault = FakeVault()
    vault.audit["file/"] = {"type": "file", "options": {"file_path": "/var/log/vault/../vault/audit.log",
                                                        "hmac_accessor": "true"}}
    assert converge(vault, audit_devices=AUDIT)["changes"] == [] and vault.writes == []


def test_openbaos_declarative_refusal_becomes_the_line_that_says_where_to_declare_the_device():
    vault = FakeVault(declarative_audit=True)
    with pytest.raises(VaultError) as caught:
        converge(vault, audit_devices=AUDIT)
    assert str(caught.value) == ('vault-01: audit_devices.file/: this Vault (OpenBao) creates audit devices only '
                                 'from its server configuration; declare audit "file" "file" there with the same '
                                 'options')


def test_check_mode_lists_every_change_and_calls_no_write_method():
    vault = FakeVault()
    result = converge(vault, check_mode=True, policies=POLICIES, audit_devices=AUDIT, kv_mounts=KV, cert_auth=CERT,
                      groups=GROUPS, audited_fields={**FIELDS, "pki-new": {"request": ["csr"]}})
    assert result["changes"] == [
        "policy auditor: create", "policy automation: create", "audit device file/: enable (file)",
        "pki-city: audit in clear: requests common_name; responses certificate, serial_number",
        "pki-new: audit in clear: requests csr; responses ",  # a mount pki.yml has yet to make
        "secrets jinbao/: enable kv version 2", "auth cert/: enable cert",
        "auth cert/certs/operators: create (trusts pki-city, names *.operators.example)",
        "auth cert/crls/pki-city: load the CRL (0 revoked)",
        "identity group jinbao-duty-audit-admin: create (jinbao-audit-admin)",
        "identity group jinbao-duty-system-admin: create (jinbao-system-admin)"]
    assert vault.writes == []
    assert result["diff"]["after"].count("\n") == len(result["changes"])


def test_a_missing_mount_to_tune_fails_outside_check_mode():
    with pytest.raises(VaultError, match=r"^vault-01: pki-new tune: cannot fetch sysview"):
        converge(FakeVault(), audited_fields={"pki-new": {"request": ["csr"]}})


def test_the_credentials_mount_certificate_login_and_duties_are_made_once():
    vault = FakeVault()
    first = converge(vault, kv_mounts=KV, cert_auth=CERT, groups=GROUPS)
    assert vault.mounts["jinbao/"] == {"type": "kv", "options": {"version": "2"}}
    role = vault.raw["auth/cert/certs/operators"]
    assert role["certificate"] == vault.ca_pem.strip() and role["allowed_common_names"] == ["*.operators.example"]
    assert role["token_ttl"] == 3600 and role["token_max_ttl"] == 14400
    assert vault.raw["identity/group/name/jinbao-duty-system-admin"]["policies"] == ["jinbao-system-admin"]
    assert len(first["changes"]) == 6
    vault.writes.clear()
    assert converge(vault, kv_mounts=KV, cert_auth=CERT, groups=GROUPS) == {"changed": False, "changes": []}
    assert vault.writes == []


def test_a_new_revocation_reloads_the_crl_of_the_certificate_login():
    vault = FakeVault()
    converge(vault, cert_auth=CERT)
    vault.crl_pem = city_ca(revoked=(4242, 77))[1]
    result = converge(vault, cert_auth=CERT)
    assert result["changes"] == ["auth cert/crls/pki-city: load the CRL (2 revoked)"]
    assert sorted(vault.raw["auth/cert/crls/pki-city"]["serials"]) == ["4242", "77"]


def test_a_duty_groups_policies_edited_by_hand_are_put_back_and_its_members_kept():
    vault = FakeVault()
    converge(vault, groups=GROUPS)
    group = vault.raw["identity/group/name/jinbao-duty-audit-admin"]
    group.update(policies=["jinbao-audit-admin", "jinbao-system-admin"], member_entity_ids=["e-1"])
    result = converge(vault, groups=GROUPS)
    assert result["changes"] == ["identity group jinbao-duty-audit-admin: update policies (jinbao-audit-admin)"]
    assert vault.raw["identity/group/name/jinbao-duty-audit-admin"] == {
        "type": "internal", "policies": ["jinbao-audit-admin"], "member_entity_ids": ["e-1"]}


def test_a_kv_mount_of_another_kind_is_refused_naming_it():
    vault = FakeVault()
    vault.mounts["jinbao/"] = {"type": "kv", "options": {"version": "1"}}
    with pytest.raises(VaultError, match=r"^vault-01: kv_mounts.jinbao/: is kv .*declared kv version 2"):
        converge(vault, kv_mounts=KV)
