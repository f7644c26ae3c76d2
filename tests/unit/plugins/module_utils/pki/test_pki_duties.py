"""The three duties (pki/duties.py), their grants in Vault (pki/grants.py, vault_duty's logic), the credentials'
writer (pki/credentials.py, vault_credentials's logic) and the run's in-memory session (pki/session.py), against
fakes: one duty per person, write-only credentials that a second run leaves alone, a session only forked workers
see."""

from __future__ import annotations

import os

import hvac
import pytest

from ansible_collections.jinbao.dc.plugins.module_utils.pki import duties, session
from ansible_collections.jinbao.dc.plugins.module_utils.pki.credentials import CredentialWriter, fingerprint
from ansible_collections.jinbao.dc.plugins.module_utils.pki.grants import DutyGranter
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import VaultError


# --- duties ----------------------------------------------------------------------------------------------
def test_a_token_holds_exactly_one_duty():
    assert duties.duty_of("alice", ["default", "jinbao-system-admin"]) == "system-admin"
    with pytest.raises(duties.DutyError, match=r"^bob: duty: holds no duty in Vault"):
        duties.duty_of("bob", ["default"])
    with pytest.raises(duties.DutyError, match=r"^eve: duty: holds 2 duties in Vault \(security-admin, system-admin"):
        duties.duty_of("eve", ["jinbao-system-admin", "jinbao-security-admin"])


def test_each_playbook_needs_its_duty_and_an_unknown_playbook_is_refused():
    duties.check_playbooks("alice", "system-admin", ["site", "migrate", "network"])
    duties.check_playbooks("sam", "security-admin", ["pki", "operator_onboard", "credentials"])
    duties.check_playbooks("ann", "audit-admin", ["evidence"])
    with pytest.raises(duties.DutyError, match=r"^alice: duty: operator_onboard.yml is the security administrator"):
        duties.check_playbooks("alice", "system-admin", ["operator_onboard"])
    with pytest.raises(duties.DutyError, match=r"^ann: duty: network.yml is the system administrator"):
        duties.check_playbooks("ann", "audit-admin", ["network"])
    with pytest.raises(duties.DutyError, match=r"^alice: playbook: /tmp/mine.yml is not a playbook of jinbao-dc"):
        duties.check_playbooks("alice", "system-admin", ["/tmp/mine.yml"])


# --- grants ----------------------------------------------------------------------------------------------
class FakeIdentity:
    """The identity API surface DutyGranter uses (sys.list_auth_methods, adapter get/post) over memory."""

    def __init__(self) -> None:
        self.sys = self
        self.adapter = self
        self.entities: dict[str, dict] = {}
        self.groups = {duties.group_name(d): {"policies": [duties.policy_name(d)], "member_entity_ids": []}
                       for d in duties.DUTIES}
        self.writes: list[str] = []

    def list_auth_methods(self):
        return {"data": {"cert/": {"type": "cert", "accessor": "auth_cert_1"}}}

    def _by_id(self, entity_id):
        return next(e for e in self.entities.values() if e["id"] == entity_id)

    def get(self, url):
        path = url.removeprefix("/v1/")
        if path.startswith("identity/entity/name/"):
            name = path.rsplit("/", 1)[1]
            if name not in self.entities:
                raise hvac.exceptions.InvalidPath(name)
            return {"data": self.entities[name]}
        if path.startswith("identity/group/name/"):
            return {"data": self.groups[path.rsplit("/", 1)[1]]}
        raise hvac.exceptions.InvalidPath(path)

    def post(self, url, json):
        path = url.removeprefix("/v1/")
        if path == "identity/lookup/entity":
            return None  # a read (204: no entity with that alias), not a write
        self.writes.append(path)
        if path == "identity/entity":
            entity = {"id": f"id-{json['name']}", "name": json["name"], "aliases": [], "disabled": False}
            self.entities[json["name"]] = entity
            return {"data": entity}
        if path == "identity/entity-alias":
            self._by_id(json["canonical_id"])["aliases"].append({"id": "a1", "name": json["name"],
                                                                  "mount_accessor": json["mount_accessor"]})
            return {"data": {"id": "a1"}}
        if path.startswith("identity/entity/id/"):
            self._by_id(path.rsplit("/", 1)[1]).update(json)
            return None
        if path.startswith("identity/group/name/"):
            self.groups[path.rsplit("/", 1)[1]].update(json)
            return None
        raise AssertionError(path)


def grant(vault, operator="alice", duty="system-admin", state="present", enable=False, check=False):
    return DutyGranter("vault-01", vault, check_mode=check).run(operator, f"{operator}.ops.example", duty, state,
                                                                 enable)


def test_a_grant_makes_the_entity_its_certificate_alias_and_the_membership_once():
    vault = FakeIdentity()
    first = grant(vault)
    assert first["changes"] == ["entity alice: create", "entity alice: alias alice.ops.example on auth/cert",
                                "duty system-admin: grant to alice"]
    assert vault.groups["jinbao-duty-system-admin"]["member_entity_ids"] == ["id-alice"]
    vault.writes.clear()
    assert grant(vault) == {"changed": False, "changes": []} and vault.writes == []


def test_a_second_duty_for_one_person_is_refused_and_nothing_is_changed():
    vault = FakeIdentity()
    grant(vault)
    vault.writes.clear()
    with pytest.raises(VaultError, match=r"alice: grant: already holds the duty system-admin; one person holds one "
                                         r"duty .*the grant of security-admin is refused"):
        grant(vault, duty="security-admin")
    assert vault.writes == [] and vault.groups["jinbao-duty-security-admin"]["member_entity_ids"] == []


def test_offboarding_withdraws_the_duty_and_disables_and_reenrolment_needs_to_be_explicit():
    vault = FakeIdentity()
    grant(vault)
    off = grant(vault, state="absent")
    assert off["changes"] == ["duty system-admin: withdraw from alice",
                              "entity alice: disable (no token of theirs works any more)"]
    assert vault.entities["alice"]["disabled"] is True
    with pytest.raises(VaultError, match=r"alice was offboarded .*re-enrolment is an explicit act"):
        grant(vault)
    back = grant(vault, enable=True)
    assert "entity alice: enable again (re-enrolment)" in back["changes"]
    assert vault.entities["alice"]["disabled"] is False


def test_check_mode_grants_nothing():
    vault = FakeIdentity()
    result = grant(vault, check=True)
    assert result["changed"] and vault.writes == [] and vault.entities == {}


# --- credentials -----------------------------------------------------------------------------------------
class FakeKV:
    def __init__(self) -> None:
        self.adapter = self
        self.data: dict[str, dict] = {}
        self.meta: dict[str, dict] = {}
        self.writes: list[str] = []

    def get(self, url):
        path = url.removeprefix("/v1/jinbao/metadata/")
        if path not in self.meta:
            raise hvac.exceptions.InvalidPath(path)
        return {"data": {"custom_metadata": self.meta[path]}}

    def post(self, url, json):
        self.writes.append(url)
        if "/data/" in url:
            self.data[url.split("/data/", 1)[1]] = json["data"]
        else:
            self.meta[url.split("/metadata/", 1)[1]] = json["custom_metadata"]


def test_credentials_are_written_once_and_a_change_of_value_rotates_them():
    kv = FakeKV()
    creds = {"facility/main/vcenter/vc-central": {"username": "admin", "password": "s3cret-1"}}
    first = CredentialWriter("vault-01", kv).run(creds)
    assert first["changes"] == ["jinbao/facility/main/vcenter/vc-central: write (password, username)"]
    assert "s3cret-1" not in repr(first) and kv.data["facility/main/vcenter/vc-central"]["password"] == "s3cret-1"
    assert kv.meta["facility/main/vcenter/vc-central"]["fingerprint"] == fingerprint(
        "facility/main/vcenter/vc-central", creds["facility/main/vcenter/vc-central"])
    kv.writes.clear()
    assert CredentialWriter("vault-01", kv).run(creds)["changed"] is False and kv.writes == []
    rotated = CredentialWriter("vault-01", kv).run({"facility/main/vcenter/vc-central":
                                                    {"username": "admin", "password": "s3cret-2"}})
    assert rotated["changes"] == ["jinbao/facility/main/vcenter/vc-central: rotate (password, username)"]


def test_a_credential_outside_the_layout_or_empty_is_refused_naming_it():
    kv = FakeKV()
    with pytest.raises(VaultError, match=r"credentials.secret/vcenter: not a credential path"):
        CredentialWriter("vault-01", kv).run({"secret/vcenter": {"password": "x"}})
    with pytest.raises(VaultError, match=r"credentials.facility/main/bmc/b1: must be a mapping"):
        CredentialWriter("vault-01", kv).run({"facility/main/bmc/b1": {"password": ""}})
    assert kv.writes == []


# --- the session -----------------------------------------------------------------------------------------
def test_the_session_is_seen_by_a_forked_worker_and_gone_when_closed():
    session.open_run({"run_id": "r1", "log": "/x", "official": True})
    assert session.get() is None
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: admits (as the gate does) and exits
        session.put({"token": "t-1", "operator": "alice"})
        os._exit(0)
    os.waitpid(pid, 0)
    os.close(read)
    os.close(write)
    assert session.get() == {"token": "t-1", "operator": "alice"}  # the parent sees what the worker wrote
    assert session.close() == {"token": "t-1", "operator": "alice"} and session.get() is None
