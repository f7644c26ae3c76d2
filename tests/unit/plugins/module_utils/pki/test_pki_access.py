"""Vault's access controls (plugins/module_utils/pki/access.py, vault_access's logic) against a fake Vault client
that keeps what is written and records every write: policies, audit devices, audited fields, AppRoles, no lab."""

from __future__ import annotations

import json
import stat

import hvac
import pytest

from ansible_collections.jinbao.dc.plugins.module_utils.pki import access
from ansible_collections.jinbao.dc.plugins.module_utils.pki.access import AccessConverger
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import VaultError

POLICIES = {"automation": 'path "pki-city/sign/operator" { capabilities = ["update"] }',
            "auditor": 'path "sys/audit" { capabilities = ["read"] }'}
AUDIT = [{"path": "file", "type": "file", "options": {"file_path": "/var/log/vault/audit.log"}}]
FIELDS = {"pki-city": {"request": ["common_name"], "response": ["serial_number", "certificate"]}}


class FakeVault:
    """The hvac client surface vault_access uses (sys.*, auth.approle.*, url, session.verify), over an
    in-memory Vault; every write method appends to `writes`."""

    def __init__(self, *, declarative_audit: bool = False) -> None:
        self.url = "https://vault.example:8200"
        self.session = type("Session", (), {"verify": "/etc/ssl/vault-ca.pem"})()
        self.policies: dict[str, str] = {}
        self.audit: dict[str, dict] = {}
        self.tunes: dict[str, dict] = {"pki-city": {}}
        self.auth_methods: dict[str, dict] = {"token/": {"type": "token"}}
        self.roles: dict[str, dict] = {}
        self.secrets = 0
        self.declarative_audit = declarative_audit
        self.writes: list[str] = []
        self.sys = self
        self.auth = type("Auth", (), {"approle": self})()

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

    # auth.approle
    def read_role(self, role_name, mount_point):
        if role_name not in self.roles:
            raise hvac.exceptions.InvalidPath(f"no role {role_name}")
        return {"data": dict(self.roles[role_name])}

    def create_or_update_approle(self, role_name, mount_point, **settings):
        self.writes.append(f"approle {role_name}")
        self.roles[role_name] = settings

    def read_role_id(self, role_name, mount_point):
        return {"data": {"role_id": f"role-id-{role_name}"}}

    def generate_secret_id(self, role_name, mount_point):
        self.writes.append(f"secret-id {role_name}")
        self.secrets += 1
        return {"data": {"secret_id": f"secret-{self.secrets}"}}


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


def test_check_mode_lists_every_change_and_calls_no_write_method(tmp_path, monkeypatch):
    monkeypatch.setattr(access, "approle_works", lambda *a, **k: pytest.fail("check mode probed the AppRole"))
    vault = FakeVault()
    approle = {"mount": "approle", "role": "automation", "policies": ["automation"],
               "file": str(tmp_path / "approle.json")}
    result = converge(vault, check_mode=True, policies=POLICIES, audit_devices=AUDIT, approles=[approle],
                      audited_fields={**FIELDS, "pki-new": {"request": ["csr"]}})
    assert result["changes"] == [
        "policy auditor: create", "policy automation: create", "audit device file/: enable (file)",
        "pki-city: audit in clear: requests common_name; responses certificate, serial_number",
        "pki-new: audit in clear: requests csr; responses ",  # a mount pki.yml has yet to make
        "auth approle/: enable approle", "approle automation: create",
        f"approle automation: new secret ID written to {approle['file']} (mode 0600)"]
    assert vault.writes == [] and not (tmp_path / "approle.json").exists()
    assert result["diff"]["after"].count("\n") == len(result["changes"])


def test_a_missing_mount_to_tune_fails_outside_check_mode():
    with pytest.raises(VaultError, match=r"^vault-01: pki-new tune: cannot fetch sysview"):
        converge(FakeVault(), audited_fields={"pki-new": {"request": ["csr"]}})


def _approle(tmp_path) -> dict:
    return {"mount": "approle", "role": "automation", "policies": ["automation"], "token_ttl": "30m",
            "file": str(tmp_path / "secrets" / "approle.json")}


def test_a_secret_id_that_no_longer_logs_in_is_replaced_by_a_new_one_written_0600(tmp_path, monkeypatch):
    probes: list[tuple] = []
    monkeypatch.setattr(access, "approle_works", lambda *a: probes.append(a) or False)
    vault = FakeVault()
    role = _approle(tmp_path)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "approle.json").write_text(json.dumps({"role_id": "role-id-automation",
                                                                   "secret_id": "expired"}))
    result = converge(vault, approles=[role])
    assert result["changes"] == ["auth approle/: enable approle", "approle automation: create",
                                 f"approle automation: new secret ID written to {role['file']} (mode 0600)"]
    assert probes == [(vault.url, vault.session.verify, "role-id-automation", "expired", "approle")]
    written = tmp_path / "secrets" / "approle.json"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert json.loads(written.read_text()) == {"role_id": "role-id-automation", "secret_id": "secret-1",
                                               "mount": "approle"}
    assert vault.roles["automation"]["token_ttl"] == "30m" and vault.roles["automation"]["bind_secret_id"] is True
    assert [p.name for p in (tmp_path / "secrets").iterdir()] == ["approle.json"]  # no temporary file left


def test_a_secret_id_that_still_logs_in_is_kept_and_a_second_run_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(access, "approle_works", lambda url, verify, role_id, secret_id, mount: secret_id == "secret-1")
    vault = FakeVault()
    role = _approle(tmp_path)
    converge(vault, policies=POLICIES, audit_devices=AUDIT, approles=[role], audited_fields=FIELDS)
    vault.writes.clear()
    again = converge(vault, policies=POLICIES, audit_devices=AUDIT, approles=[role], audited_fields=FIELDS)
    assert again == {"changed": False, "changes": []} and vault.writes == []
    assert json.loads((tmp_path / "secrets" / "approle.json").read_text())["secret_id"] == "secret-1"
