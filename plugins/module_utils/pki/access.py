"""Vault's access controls for the PKI kept as declared: ACL policies, audit devices, the audited PKI fields and
the automation AppRoles with their secret ID files (vault_access's logic).

It talks to Vault only through the client seams/vault.py makes and seams/vault's `approle_works` probe
(seams/vault stays the only hvac importer), so unit tests drive it with a fake client that records the calls.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from typing import Any

from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import (
    VaultError,
    approle_works,
    call,
    read_or_none,
)


class AccessConverger:
    """Brings a Vault's policies, audit devices, audited PKI fields and AppRoles to what is declared: reads what
    is there, changes only what differs.

    `client` is an authenticated hvac client (seams/vault.connect), or a fake with the same `sys` and
    `auth.approle` calls and `url`/`session.verify`. In check mode nothing is written (no Vault write, no
    secret ID file) and `changes` lists what would be.
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

    def approles(self, approles: Sequence[dict[str, Any]]) -> None:
        """Each AppRole's auth mount and role; a new secret ID in its `file` when the kept one no longer logs in."""
        if not approles:
            return
        name, client = self.name, self.client
        methods = call(name, "sys/auth", client.sys.list_auth_methods)
        methods = methods.get("data", methods)
        for role in approles:
            mount = role.get("mount", "approle")
            if f"{mount}/" not in methods:
                self.change(f"auth {mount}/: enable approle", client.sys.enable_auth_method, method_type="approle",
                            path=mount)
                methods[f"{mount}/"] = {}
            want = {"token_policies": sorted(role["policies"]), "token_ttl": role.get("token_ttl", "1h"),
                    "token_max_ttl": role.get("token_max_ttl", "4h"),
                    "secret_id_ttl": role.get("secret_id_ttl", "0"), "bind_secret_id": True}
            found = read_or_none(name, f"approle {role['role']}", client.auth.approle.read_role, role["role"],
                                 mount_point=mount)
            have = found["data"] if found else None
            if have is None or sorted(have.get("token_policies") or []) != want["token_policies"]:
                self.change(f"approle {role['role']}: {'create' if have is None else 'update policies'}",
                            client.auth.approle.create_or_update_approle, role_name=role["role"], mount_point=mount,
                            **want)
            path = role.get("file")
            if path and not self.check:
                if not _secret_still_works(client, path, mount):
                    role_id = call(name, "approle role-id", client.auth.approle.read_role_id, role["role"],
                                   mount_point=mount)["data"]["role_id"]
                    secret = call(name, "approle secret-id", client.auth.approle.generate_secret_id, role["role"],
                                  mount_point=mount)["data"]["secret_id"]
                    _write_private(path, {"role_id": role_id, "secret_id": secret, "mount": mount})
                    self.changes.append(f"approle {role['role']}: new secret ID written to {path} (mode 0600)")
            elif path and not os.path.exists(path):
                self.changes.append(f"approle {role['role']}: new secret ID written to {path} (mode 0600)")

    def run(self, policies: dict[str, str] | None = None, audit_devices: Sequence[dict[str, Any]] = (),
            approles: Sequence[dict[str, Any]] = (),
            audited_fields: dict[str, dict[str, list[str]]] | None = None) -> dict[str, Any]:
        """Converge policies, audit devices, audited fields and AppRoles, in that order; {changed, changes[, diff]}.
        VaultError names what Vault refused or what differs and must be fixed by hand."""
        self.policies(policies or {})
        self.audit_devices(audit_devices)
        self.audited_fields(audited_fields or {})
        self.approles(approles)
        result: dict[str, Any] = {"changed": bool(self.changes), "changes": self.changes}
        if self.changes:
            result["diff"] = {"before": "", "after": "".join(f"{c}\n" for c in self.changes),
                              "after_header": "Vault access"}
        return result


def _option(key: str, value: Any) -> str:
    """An audit device option as Vault keeps it; paths compared in normal form (a/b/../c is a/c)."""
    text = str(value)
    return os.path.normpath(text) if key.endswith("_path") and text.startswith("/") else text


def _secret_still_works(client: Any, path: str, mount: str) -> bool:
    """Whether the role ID and secret ID kept at `path` still log in."""
    try:
        with open(path, encoding="utf-8") as fh:
            kept = json.load(fh)
        return approle_works(client.url, client.session.verify, kept["role_id"], kept["secret_id"], mount)
    except (OSError, ValueError, KeyError, TypeError):
        return False  # missing or unreadable: a new secret ID is written


def _write_private(path: str, data: dict[str, str]) -> None:
    """Write `data` as JSON to `path`, mode 0600 from the start, replacing the file at once (no partial file)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".approle-", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
