#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Converge Vault's access controls for the PKI: ACL policies, audit devices, the automation AppRole."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vault_access
short_description: Keep Vault's policies, audit devices, AppRole and audited PKI fields as declared
description:
  - Writes each ACL policy whose text differs from what Vault has.
  - Enables each audit device that is missing (HashiCorp Vault); OpenBao creates audit devices only from its
    server configuration, so there the module checks them and names any that is missing. A device whose type
    or options differ is reported, not replaced (replacing a device loses its hash salt), and the module
    fails naming it.
  - Enables the AppRole auth method and writes each AppRole (its policies and token TTLs).
  - Writes a secret ID for each role to its C(file) (mode 0600) when the file is missing or its secret ID no
    longer logs in; role IDs and secret IDs are never returned.
  - Tunes each PKI mount so that the named request and response fields are audited in clear (not HMAC'd).
  - Idempotent; check mode lists the changes.
extends_documentation_fragment: [jinbao.dc.vault, jinbao.dc.vault.token]
options:
  policies: {description: Policy name to its HCL text., type: dict, default: {}}
  audit_devices:
    description: The audit devices, each with C(path), C(type) and C(options).
    type: list
    elements: dict
    default: []
  approles:
    description: The AppRoles, each with C(mount), C(role), C(policies), C(token_ttl), C(token_max_ttl), C(file).
    type: list
    elements: dict
    default: []
  audited_fields:
    description: PKI mount to C(request) and C(response) lists of fields audited in clear.
    type: dict
    default: {}
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: Policies, audit devices and the automation AppRole
  jinbao.dc.vault_access:  # name, url, ca_file: module_defaults on group/jinbao.dc.vault
    token: "{{ vault_bootstrap_token }}"
    policies:
      automation: 'path "pki-city/sign/operator" { capabilities = ["update"] }'
    audit_devices:
      - {path: file, type: file, options: {file_path: /var/log/vault/audit.log}}
    approles:
      - {mount: approle, role: automation, policies: [automation], file: /etc/jinbao/vault-automation.json}
"""

RETURN = r"""
changes:
  description: What was changed (or would be, in check mode), one line each.
  type: list
  elements: str
  returned: always
"""

import json
import os
import tempfile
from typing import Any

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import (
    HAS_HVAC,
    HVAC_IMPORT_ERROR,
    VaultError,
    approle_works,
    argument_spec,
    call,
    connect,
    read_or_none,
)


def _write_private(path: str, data: dict[str, str]) -> None:
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


def converge(module: AnsibleModule, client: Any) -> list[str]:
    p, name, check = module.params, module.params["name"], module.check_mode
    changes: list[str] = []

    def change(line: str, fn, *args, **kwargs) -> None:
        changes.append(line)
        if not check:
            call(name, line, fn, *args, **kwargs)

    for policy, text in sorted(p["policies"].items()):
        found = read_or_none(name, f"policy {policy}", client.sys.read_acl_policy, policy)
        have = found["data"]["policy"] if found else None
        if (have or "").strip() != text.strip():
            change(f"policy {policy}: {'create' if have is None else 'update'}", client.sys.create_or_update_acl_policy,
                   name=policy, policy=text)

    devices = call(name, "sys/audit", client.sys.list_enabled_audit_devices)
    devices = devices.get("data", devices)
    for device in p["audit_devices"]:
        path = device["path"].strip("/") + "/"
        want_options = {k: _option(k, v) for k, v in (device.get("options") or {}).items()}
        if path not in devices:
            try:
                change(f"audit device {path}: enable ({device['type']})", client.sys.enable_audit_device,
                       device_type=device["type"], path=path, options=want_options)
            except VaultError as exc:
                if "declarative" in exc.message:
                    raise VaultError(name, f"audit_devices.{path}", "this Vault (OpenBao) creates audit devices "
                                                                    "only from its server configuration; declare "
                                                                    f'audit "{device["type"]}" "{path.rstrip("/")}" '
                                                                    "there with the same options") from None
                raise
            continue
        have = devices[path]
        have_options = {k: _option(k, v) for k, v in (have.get("options") or {}).items() if k in want_options}
        if have.get("type") != device["type"] or have_options != want_options:
            raise VaultError(name, f"audit_devices.{path}", f"is {have.get('type')} {have_options}, declared "
                                                            f"{device['type']} {want_options}; disable it by hand "
                                                            "(its hash salt goes with it) and run again")

    for mount, fields in sorted(p["audited_fields"].items()):
        try:
            tune = call(name, f"{mount} tune", client.sys.read_mount_configuration, path=mount)
            tune = tune.get("data", tune)
        except VaultError:
            if not check:
                raise
            tune = {}  # check mode before pki.yml ever ran: the mount is still to be made
        want = {"audit_non_hmac_request_keys": sorted(fields.get("request") or []),
                "audit_non_hmac_response_keys": sorted(fields.get("response") or [])}
        if any(sorted(tune.get(k) or []) != v for k, v in want.items()):
            change(f"{mount}: audit in clear: requests {', '.join(want['audit_non_hmac_request_keys'])}; "
                   f"responses {', '.join(want['audit_non_hmac_response_keys'])}",
                   client.sys.tune_mount_configuration, path=mount, **want)

    approles = p["approles"]
    if approles:
        methods = call(name, "sys/auth", client.sys.list_auth_methods)
        methods = methods.get("data", methods)
    for role in approles:
        mount = role.get("mount", "approle")
        if f"{mount}/" not in methods:
            change(f"auth {mount}/: enable approle", client.sys.enable_auth_method, method_type="approle", path=mount)
            methods[f"{mount}/"] = {}
        want = {"token_policies": sorted(role["policies"]), "token_ttl": role.get("token_ttl", "1h"),
                "token_max_ttl": role.get("token_max_ttl", "4h"), "secret_id_ttl": role.get("secret_id_ttl", "0"),
                "bind_secret_id": True}
        found = read_or_none(name, f"approle {role['role']}", client.auth.approle.read_role, role["role"],
                             mount_point=mount)
        have = found["data"] if found else None
        if have is None or sorted(have.get("token_policies") or []) != want["token_policies"]:
            change(f"approle {role['role']}: {'create' if have is None else 'update policies'}",
                   client.auth.approle.create_or_update_approle, role_name=role["role"], mount_point=mount, **want)
        path = role.get("file")
        if path and not check:
            if not _secret_still_works(client, path, mount):
                role_id = call(name, "approle role-id", client.auth.approle.read_role_id, role["role"],
                               mount_point=mount)["data"]["role_id"]
                secret = call(name, "approle secret-id", client.auth.approle.generate_secret_id, role["role"],
                              mount_point=mount)["data"]["secret_id"]
                _write_private(path, {"role_id": role_id, "secret_id": secret, "mount": mount})
                changes.append(f"approle {role['role']}: new secret ID written to {path} (mode 0600)")
        elif path and not os.path.exists(path):
            changes.append(f"approle {role['role']}: new secret ID written to {path} (mode 0600)")
    return changes


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


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(  # the connection and the token (doc fragments jinbao.dc.vault, .token)
            token=True,
            policies={"type": "dict", "default": {}},
            audit_devices={"type": "list", "elements": "dict", "default": []},
            approles={"type": "list", "elements": "dict", "default": []},
            audited_fields={"type": "dict", "default": {}},
        ),
        supports_check_mode=True,
    )
    if not HAS_HVAC:
        module.fail_json(msg=missing_required_lib("hvac"), exception=str(HVAC_IMPORT_ERROR))
    p = module.params
    try:
        client = connect(p["name"], p["url"], p["token"], p["ca_file"], p["timeout"])
        changes = converge(module, client)
    except VaultError as exc:
        module.fail_json(msg=str(exc), field=exc.field)
    result: dict[str, Any] = {"changed": bool(changes), "changes": changes}
    if changes:
        result["diff"] = {"before": "", "after": "".join(f"{c}\n" for c in changes), "after_header": "Vault access"}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
