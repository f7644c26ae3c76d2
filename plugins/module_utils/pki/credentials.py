"""The facility's credentials in Vault's KV v2 (vault_credentials's logic): the security administrator writes
them, and may not read them back (the policy grants create and update, not read). So that a second run changes
nothing, each secret's custom metadata keeps a fingerprint: PBKDF2-HMAC-SHA256 of the data, salted with the
path, 200,000 rounds (a slow hash, so the fingerprint is no shortcut to a weak password).

Layout (docs/SECURITY.md): facility/<room>/<system>/<name>, e.g. facility/main/vcenter/vc-central,
facility/main/netdev/core-01, facility/branch_north/bmc/bmc-db-north-01, facility/main/snmp/community,
facility/main/postgres/pg-monitor, facility/main/restic/<job>, facility/main/alertmanager/oncall.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import VaultError, call, read_or_none

PATH = re.compile(r"^facility/[a-z0-9_]+/[a-z0-9_-]+/[A-Za-z0-9_.-]+$")
ROUNDS = 200_000


def fingerprint(path: str, data: dict[str, Any]) -> str:
    raw = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.pbkdf2_hmac("sha256", raw, f"jinbao:{path}".encode(), ROUNDS).hex()
    return f"pbkdf2-sha256${ROUNDS}${digest}"


class CredentialWriter:
    def __init__(self, name: str, client: Any, mount: str = "jinbao", *, check_mode: bool = False) -> None:
        self.name, self.client, self.mount, self.check = name, client, mount, check_mode
        self.changes: list[str] = []

    def put(self, path: str, data: dict[str, Any]) -> None:
        if not PATH.match(path):
            raise VaultError(self.name, f"credentials.{path}", "not a credential path; the layout is "
                                                               "facility/<room>/<system>/<name>")
        if not isinstance(data, dict) or not data or not all(isinstance(v, str) and v for v in data.values()):
            raise VaultError(self.name, f"credentials.{path}", "must be a mapping of field names to non-empty "
                                                               "strings (e.g. username, password)")
        want = fingerprint(path, data)
        meta = read_or_none(self.name, f"{self.mount}/metadata/{path}", self.client.adapter.get,
                            f"/v1/{self.mount}/metadata/{path}")
        have = (((meta or {}).get("data") or {}).get("custom_metadata") or {}).get("fingerprint")
        if have == want:
            return
        self.changes.append(f"{self.mount}/{path}: {'write' if meta is None else 'rotate'} "
                            f"({', '.join(sorted(data))})")
        if self.check:
            return
        call(self.name, f"{self.mount}/{path}", self.client.adapter.post, f"/v1/{self.mount}/data/{path}",
             json={"data": data})
        call(self.name, f"{self.mount}/metadata/{path}", self.client.adapter.post,
             f"/v1/{self.mount}/metadata/{path}", json={"custom_metadata": {"fingerprint": want}})

    def run(self, credentials: dict[str, dict[str, Any]]) -> dict[str, Any]:
        for path, data in sorted(credentials.items()):
            self.put(path.strip("/"), data)
        result: dict[str, Any] = {"changed": bool(self.changes), "changes": self.changes}
        if self.changes:
            result["diff"] = {"before": "", "after": "".join(f"{c}\n" for c in self.changes),
                              "after_header": "facility credentials (values never shown)"}
        return result
