"""Vault's access controls kept as declared: ACL policies, audit devices, the audited PKI fields, the KV mounts,
the operators' certificate login (auth/cert with the CA's CRL) and the duty groups (vault_access's logic).

It talks to Vault only through the client seams/vault.py makes (seams/vault stays the only hvac importer),
so unit tests drive it with a fake client that records the calls.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import (
    VaultError,
    call,
    read_or_none,
)


class AccessConverger:
    """Brings a Vault's policies, audit devices, audited PKI fields, KV mounts, certificate login and duty groups to
    what is declared: reads what is there, changes only what differs.

    `client` is an authenticated hvac client (seams/vault.connect), or a fake with the same `sys`, `secrets.pki`
    and `adapter` calls. In check mode nothing is written and `changes` lists what would be.
    """

    def __init__(self, name: str, client: Any, *, check_mode: bool = False) -> None:
        self.name, self.client = name, client
        self.check = check_mode
        self.changes: list[str] = []

    def change(self, line: str, fn, *args, **kwargs) -> None:
        self.changes.append(line)
        if not self.check:
            call(self.name, line, fn, *args, **kwargs)

    def policies(self, policies: dict[str, str]) -> None:
        client = self.client
        for policy, text in sorted(policies.items()):
            found = read_or_none(self.name, f"policy {policy}", client.sys.read_acl_policy, policy)
            have = found["data"]["policy"] if found else None
            if (have or "").strip() != text.strip():
                self.change(f"policy {policy}: {'create' if have is None else 'update'}",
                            client.sys.create_or_update_acl_policy, name=policy, policy=text)

    def audit_devices(self, audit_devices: Sequence[dict[str, Any]]) -> None:
        """Enable each missing device; a device whose type or options differ is refused, naming its path."""
        name, client = self.name, self.client
        devices = call(name, "sys/audit", client.sys.list_enabled_audit_devices)
        devices = devices.get("data", devices)
        for device in audit_devices:
            path = device["path"].strip("/") + "/"
            want_options = {k: _option(k, v) for k, v in (device.get("options") or {}).items()}
            if path not in devices:
                try:
                    self.change(f"audit device {path}: enable ({device['type']})", client.sys.enable_audit_device,
                                device_type=device["type"], path=path, options=want_options)
                except VaultError as exc:
                    if "declarative" in exc.message:
                        raise VaultError(name, f"audit_devices.{path}", "this Vault (OpenBao) creates audit devices "
                                                                        "only from its server configuration; declare "
                                                                        f'audit "{device["type"]}" '
                                                                        f'"{path.rstrip("/")}" '
                                                                        "there with the same options") from None
                    raise
                continue
            have = devices[path]
            have_options = {k: _option(k, v) for k, v in (have.get("options") or {}).items() if k in want_options}
            if have.get("type") != device["type"] or have_options != want_options:
                raise VaultError(name, f"audit_devices.{path}", f"is {have.get('type')} {have_options}, declared "
                                                                f"{device['type']} {want_options}; disable it by hand "
                                                                "(its hash salt goes with it) and run again")

    def audited_fields(self, audited_fields: dict[str, dict[str, list[str]]]) -> None:
        for mount, fields in sorted(audited_fields.items()):
            try:
                tune = call(self.name, f"{mount} tune", self.client.sys.read_mount_configuration, path=mount)
                tune = tune.get("data", tune)
            except VaultError:
                if not self.check:
                    raise
                tune = {}  # check mode before pki.yml ever ran: the mount is still to be made
            want = {"audit_non_hmac_request_keys": sorted(fields.get("request") or []),
                    "audit_non_hmac_response_keys": sorted(fields.get("response") or [])}
            if any(sorted(tune.get(k) or []) != v for k, v in want.items()):
                self.change(f"{mount}: audit in clear: requests {', '.join(want['audit_non_hmac_request_keys'])}; "
                            f"responses {', '.join(want['audit_non_hmac_response_keys'])}",
                            self.client.sys.tune_mount_configuration, path=mount, **want)

    def kv_mounts(self, mounts: Sequence[dict[str, Any]]) -> None:
        """Each KV v2 mount (the credentials, the audit anchors), enabled when missing."""
        if not mounts:
            return
        have = call(self.name, "sys/mounts", self.client.sys.list_mounted_secrets_engines)
        have = have.get("data", have)
        for mount in mounts:
            path = mount["path"].strip("/") + "/"
            found = have.get(path)
            if found is None:
                self.change(f"secrets {path}: enable kv version 2", self.client.sys.enable_secrets_engine,
                            backend_type="kv", path=path, options={"version": "2"},
                            description=mount.get("description", ""))
            elif found.get("type") != "kv" or str((found.get("options") or {}).get("version")) != "2":
                raise VaultError(self.name, f"kv_mounts.{path}", f"is {found.get('type')} "
                                                                 f"{found.get('options')}, declared kv version 2")

    def cert_auth(self, cert: dict[str, Any]) -> None:
        """TLS certificate login (auth/<mount>): the role trusting the issuing CA (read from its PKI mount), with
        the CA's current CRL loaded, so a revoked certificate cannot log in."""
        if not cert:
            return
        name, client, mount = self.name, self.client, cert.get("mount", "cert")
        methods = call(name, "sys/auth", client.sys.list_auth_methods)
        methods = methods.get("data", methods)
        if f"{mount}/" not in methods:
            self.change(f"auth {mount}/: enable cert", client.sys.enable_auth_method, method_type="cert", path=mount)
        ca_mount = cert.get("ca_mount", "pki-city")
        try:
            ca_pem = call(name, f"{ca_mount}/ca/pem", client.secrets.pki.read_ca_certificate, mount_point=ca_mount)
            crl_pem = call(name, f"{ca_mount}/crl/pem", client.secrets.pki.read_crl, mount_point=ca_mount)
        except VaultError:
            if self.check:
                return  # check mode before the CA exists: the role and CRL follow it
            raise
        for role in cert.get("roles") or ():
            want = {"certificate": ca_pem.strip(), "allowed_common_names": sorted(role["allowed_common_names"]),
                    "token_ttl": int(role.get("token_ttl", 3600)),
                    "token_max_ttl": int(role.get("token_max_ttl", 14400)),
                    "token_policies": sorted(role.get("token_policies") or []), "token_no_default_policy": False}
            found = read_or_none(name, f"auth/{mount}/certs/{role['name']}", client.adapter.get,
                                 f"/v1/auth/{mount}/certs/{role['name']}")
            have = (found or {}).get("data") or {}
            have_cmp = {"certificate": str(have.get("certificate") or "").strip(),
                        "allowed_common_names": sorted(have.get("allowed_common_names") or []),
                        "token_ttl": int(have.get("token_ttl") or 0),
                        "token_max_ttl": int(have.get("token_max_ttl") or 0),
                        "token_policies": sorted(have.get("token_policies") or []),
                        "token_no_default_policy": bool(have.get("token_no_default_policy"))}
            if have_cmp != want:
                self.change(f"auth {mount}/certs/{role['name']}: {'create' if not found else 'update'} (trusts "
                            f"{ca_mount}, names {', '.join(want['allowed_common_names'])})", client.adapter.post,
                            f"/v1/auth/{mount}/certs/{role['name']}", json={**want, "display_name": role["name"]})
        self.cert_crl(mount, ca_mount, crl_pem)

    def cert_crl(self, mount: str, ca_mount: str, crl_pem: str) -> None:
        """The CA's CRL in auth/<mount>/crls/<ca_mount>, when it differs from the one Vault holds there."""
        try:
            found = read_or_none(self.name, f"auth/{mount}/crls/{ca_mount}", self.client.adapter.get,
                                 f"/v1/auth/{mount}/crls/{ca_mount}")
        except VaultError as exc:
            if "no such crl" not in exc.message.lower():
                raise
            found = None  # Vault answers 400 "no such CRL" for a CRL it never held
        held = sorted(((found or {}).get("data") or {}).get("serials") or {})
        want = sorted(revoked_serials_of(crl_pem))
        if found is None or held != want:
            self.change(f"auth {mount}/crls/{ca_mount}: load the CRL ({len(want)} revoked)", self.client.adapter.post,
                        f"/v1/auth/{mount}/crls/{ca_mount}", json={"crl": crl_pem})

    def groups(self, groups: dict[str, Sequence[str]]) -> None:
        """The duties: internal identity groups with their policies (members are granted by vault_duty)."""
        for group, policies in sorted((groups or {}).items()):
            found = read_or_none(self.name, f"identity/group/name/{group}", self.client.adapter.get,
                                 f"/v1/identity/group/name/{group}")
            have = (found or {}).get("data") or {}
            if not found or sorted(have.get("policies") or []) != sorted(policies):
                body = {"type": "internal", "policies": sorted(policies)}
                if found:
                    body["member_entity_ids"] = have.get("member_entity_ids") or []
                self.change(f"identity group {group}: {'create' if not found else 'update policies'} "
                            f"({', '.join(sorted(policies))})", self.client.adapter.post,
                            f"/v1/identity/group/name/{group}", json=body)

    def token_roles(self, roles: Sequence[dict[str, Any]]) -> None:
        """The change tokens' roles (two-person control, plugins/module_utils/pki/approval.py): each role makes a
        non-renewable child token of the requester's, with only the role's policy, for at most `ttl` seconds."""
        for i, role in enumerate(roles or ()):
            name = str(role.get("name") or "")
            policies = sorted(role.get("policies") or [])
            ttl = int(role.get("ttl") or 0)
            if not name or not policies or ttl <= 0:
                raise VaultError(self.name, f"token_roles[{i}]", "give name, policies (a list) and ttl (seconds > 0)")
            want = {"allowed_policies": policies, "orphan": False, "renewable": False,
                    "token_explicit_max_ttl": ttl, "token_type": "service"}
            found = read_or_none(self.name, f"auth/token/roles/{name}", self.client.adapter.get,
                                 f"/v1/auth/token/roles/{name}")
            have = (found or {}).get("data") or {}
            have = {"allowed_policies": sorted(have.get("allowed_policies") or []),
                    "orphan": bool(have.get("orphan")), "renewable": bool(have.get("renewable")),
                    "token_explicit_max_ttl": int(have.get("token_explicit_max_ttl") or 0),
                    "token_type": str(have.get("token_type") or "")}
            if not found or have != want:
                self.change(f"token role {name}: {'create' if not found else 'update'} ({', '.join(policies)}, "
                            f"{ttl} s)", self.client.adapter.post, f"/v1/auth/token/roles/{name}",
                            json={**want, "token_policies": policies})

    def run(self, policies: dict[str, str] | None = None, audit_devices: Sequence[dict[str, Any]] = (),
            audited_fields: dict[str, dict[str, list[str]]] | None = None, kv_mounts: Sequence[dict] = (),
            cert_auth: dict[str, Any] | None = None, groups: dict[str, Sequence[str]] | None = None,
            token_roles: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        """Converge policies, audit devices, audited fields, KV mounts, certificate login, the duty groups and the
        change tokens' roles, in that order; {changed, changes[, diff]}. VaultError names what Vault refused or
        what differs."""
        self.policies(policies or {})
        self.audit_devices(audit_devices)
        self.audited_fields(audited_fields or {})
        self.kv_mounts(kv_mounts)
        self.cert_auth(cert_auth or {})
        self.groups(groups or {})
        self.token_roles(token_roles)
        result: dict[str, Any] = {"changed": bool(self.changes), "changes": self.changes}
        if self.changes:
            result["diff"] = {"before": "", "after": "".join(f"{c}\n" for c in self.changes),
                              "after_header": "Vault access"}
        return result


def _option(key: str, value: Any) -> str:
    """An audit device option as Vault keeps it; paths compared in normal form (a/b/../c is a/c)."""
    text = str(value)
    return os.path.normpath(text) if key.endswith("_path") and text.startswith("/") else text


def revoked_serials_of(crl_pem: str) -> list[str]:
    """The revoked serials of a PEM CRL, as Vault's cert auth lists them (decimal)."""
    from cryptography import x509

    crl = x509.load_pem_x509_crl(crl_pem.encode())
    return [str(r.serial_number) for r in crl]
