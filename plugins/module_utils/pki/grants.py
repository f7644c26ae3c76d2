"""Duties granted to people in Vault (vault_duty's logic): an identity entity per operator, its certificate alias
on the cert login mount, and membership of exactly one duty group.

It talks to Vault only through an hvac client's adapter (seams/vault makes it), so unit tests drive it with a
fake that records the calls.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.jinbao.dc.plugins.module_utils.pki import duties
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import VaultError, call, read_or_none


def _data(answer: Any) -> dict[str, Any] | None:
    """The `data` of a Vault answer; None for no answer or an empty one (204 No Content)."""
    return (answer.get("data") or None) if isinstance(answer, dict) else None


class DutyGranter:
    """Grant (state=present) or withdraw (state=absent: every duty removed, the entity disabled) an operator's
    duty. `changes` lists what was (or, in check mode, would be) done."""

    def __init__(self, name: str, client: Any, *, cert_mount: str = "cert", check_mode: bool = False) -> None:
        self.name, self.client, self.cert_mount, self.check = name, client, cert_mount, check_mode
        self.changes: list[str] = []

    def _get(self, what: str, path: str) -> dict[str, Any] | None:
        return _data(read_or_none(self.name, what, self.client.adapter.get, f"/v1/{path}"))

    def _post(self, line: str, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        self.changes.append(line)
        if self.check:
            return None
        return _data(call(self.name, line, self.client.adapter.post, f"/v1/{path}", json=body))

    def accessor(self) -> str:
        methods = call(self.name, "sys/auth", self.client.sys.list_auth_methods)
        methods = methods.get("data", methods)
        mount = methods.get(f"{self.cert_mount}/")
        if not mount:
            raise VaultError(self.name, f"auth/{self.cert_mount}", "certificate login is not enabled; run pki.yml")
        return mount["accessor"]

    def entity(self, operator: str, cn: str, accessor: str, create: bool) -> dict[str, Any] | None:
        """The operator's entity: by name, else the one Vault made at a first login (by the CN alias)."""
        found = self._get(f"entity {operator}", f"identity/entity/name/{operator}")
        if found:
            return found
        lookup = None if self.check and not create else read_or_none(
            self.name, f"alias {cn}", self.client.adapter.post, "/v1/identity/lookup/entity",
            json={"alias_name": cn, "alias_mount_accessor": accessor})
        if _data(lookup):
            entity = _data(lookup)
            self._post(f"entity {operator}: name the entity Vault made at the first login ({entity['id']})",
                       f"identity/entity/id/{entity['id']}", {"name": operator})
            return entity
        if not create:
            return None
        made = self._post(f"entity {operator}: create", "identity/entity",
                          {"name": operator, "metadata": {"operator": operator}})
        return made or {"id": f"(new entity {operator})", "aliases": [], "name": operator}

    def groups(self) -> dict[str, dict[str, Any]]:
        held = {}
        for duty in duties.DUTIES:
            group = self._get(f"group {duties.group_name(duty)}", f"identity/group/name/{duties.group_name(duty)}")
            if group is None:
                raise VaultError(self.name, duties.group_name(duty), "the duty group is missing; run pki.yml")
            held[duty] = group
        return held

    def present(self, operator: str, cn: str, duty: str, enable: bool = False) -> None:
        if duty not in duties.DUTIES:
            raise VaultError(self.name, "duty", f"{duty!r} is not a duty ({', '.join(duties.DUTIES)})")
        try:
            accessor = self.accessor()
            groups = self.groups()
        except VaultError:
            if not self.check:
                raise
            # check mode before pki.yml (bootstrap.yml --check): the login and the groups are still to be made
            self.changes.append(f"duty {duty}: grant to {operator}")
            return
        entity = self.entity(operator, cn, accessor, create=True) or {}
        entity_id = entity.get("id")
        member_of = [d for d, g in groups.items() if entity_id in (g.get("member_entity_ids") or [])]
        try:
            duties.grant_conflict(operator, duty, member_of)
        except duties.DutyError as exc:
            raise VaultError(self.name, "duty", str(exc)) from None
        if entity.get("disabled"):
            if not enable:
                raise VaultError(self.name, "entity", f"{operator} was offboarded (their Vault entity is disabled); "
                                                      "re-enrolment is an explicit act: give a reason "
                                                      "(-e reenrol_reason=...)")
            self._post(f"entity {operator}: enable again (re-enrolment)", f"identity/entity/id/{entity_id}",
                       {"disabled": False})
        aliases = [a for a in entity.get("aliases") or () if a.get("mount_accessor") == accessor]
        if not any(a.get("name") == cn for a in aliases):
            for alias in aliases:  # one certificate name per person on the cert mount
                self._post(f"entity {operator}: drop the alias {alias['name']}",
                           f"identity/entity-alias/id/{alias['id']}", {"canonical_id": entity_id, "name": cn})
            if not aliases:
                self._post(f"entity {operator}: alias {cn} on auth/{self.cert_mount}", "identity/entity-alias",
                           {"name": cn, "canonical_id": entity_id, "mount_accessor": accessor})
        group = groups[duty]
        if entity_id not in (group.get("member_entity_ids") or []):
            self._post(f"duty {duty}: grant to {operator}", f"identity/group/name/{duties.group_name(duty)}",
                       {"member_entity_ids": [*(group.get("member_entity_ids") or []), entity_id]})

    def absent(self, operator: str, cn: str) -> None:
        accessor = self.accessor()
        entity = self.entity(operator, cn, accessor, create=False)
        if not entity:
            return
        for duty, group in self.groups().items():
            members = group.get("member_entity_ids") or []
            if entity["id"] in members:
                self._post(f"duty {duty}: withdraw from {operator}", f"identity/group/name/{duties.group_name(duty)}",
                           {"member_entity_ids": [m for m in members if m != entity["id"]]})
        if not entity.get("disabled"):
            self._post(f"entity {operator}: disable (no token of theirs works any more)",
                       f"identity/entity/id/{entity['id']}", {"disabled": True})

    def run(self, operator: str, cn: str, duty: str | None, state: str, enable: bool = False) -> dict[str, Any]:
        if state == "present":
            self.present(operator, cn, duty or "", enable)
        else:
            self.absent(operator, cn)
        result: dict[str, Any] = {"changed": bool(self.changes), "changes": self.changes}
        if self.changes:
            result["diff"] = {"before": "", "after": "".join(f"{c}\n" for c in self.changes),
                              "after_header": f"duty of {operator}"}
        return result
