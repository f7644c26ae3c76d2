"""Two-person control for high-risk changes, enforced by OpenBao's control groups (issue #15, Deliver 4).

The flow, as verified on OpenBao 2.7.2 (notes: /work/notes/control-groups.md):

1. A policy made by `control_group_policy()` guards a credential path: the requester's read of it answers no
   data, only a response-wrapping token (its TTL is the control group's `ttl`; no X-Vault-Wrap-TTL is sent).
2. `request()` makes that read and records the change it is for (`ChangeBinding`: playbook, limit, digest of the
   plan or intended configuration, requester, path) in KV at `<kv_mount>/data/approvals/pending/<accessor>`.
3. An operator of another duty, a direct member of an approver identity group, looks at it (`describe()`:
   Vault's own view joined with the record) and approves that very change (`authorize()`), recorded at
   `approvals/done/<accessor>`.
4. The requester redeems the wrap (`redeem()`): Vault runs the deferred read with the requester's token and
   answers the credential. redeem() then revokes the wrapping token itself, because 2.7.2 lets an approved
   control-group wrap be unwrapped again until its TTL ends, and records `approvals/redeemed/<accessor>`.

The same flow guards a high-risk change that is no credential (CA operations, offboarding an administrator): the
controlled path is then a token role's create, `token_request_path("jinbao-change-ca")`; the deferred create,
run at redeem, answers a short-lived change token (a child of the requester's, so it ends with the run) whose
policy holds the capabilities no duty's own token has. Verified on 2.7.2: the approver sees the request's data.

Vault is what enforces it: the requester's token alone never reads the credential, the approval counts only
from a member of the approver group who is not the requester, and it lapses with the control group's TTL. The
checks here (the binding, self-approval) come on top, so a refusal names the check in one line. No message
ever carries a token or a secret value.

It talks to Vault only through a client made by seams/vault (the only hvac importer), so any hvac client works.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import VaultError, call, read_or_none, twin

APPROVALS_PREFIX = "approvals"
FACTOR_NAME = "approvers"
_CAPABILITIES = ("create", "read", "update", "patch", "delete", "list", "sudo")
_DURATION = re.compile(r"^(?:\d+|(?:\d+[hms])+)$")
_INVALID_WRAP = "wrapping token is not valid or does not exist"


class ApprovalError(Exception):
    """A two-person check refused; str() is one line: '<check>: <what happened> (accessor A, path P)'."""

    def __init__(self, check: str, message: str, accessor: str = "", path: str = "") -> None:
        where = ", ".join(part for part in (f"accessor {accessor}" if accessor else "",
                                            f"path {path}" if path else "") if part)
        super().__init__(_one_line(f"{check}: {message}" + (f" ({where})" if where else "")))
        self.check, self.accessor, self.path = check, accessor, path


# --- policies ----------------------------------------------------------------------------------------------------

def control_group_policy(path: str, capabilities: list[str] | tuple[str, ...], approver_groups: list[str] |
                         tuple[str, ...], approvals: int = 1, ttl: str | int = "1h") -> str:
    """The HCL of one policy path whose `capabilities` need `approvals` approvals from members of any of
    `approver_groups` (identity group names; members must be direct members) before the answer is released.

    `ttl` is both how long the wrap can wait for approval and how long an approval stays valid: OpenBao 2.7.2
    treats a missing or zero ttl as "approvals expire at once" and then neither answers nor wraps the read, so
    a ttl > 0 is required here. Name the path in no other policy the same token holds: 2.7.2 keeps the control
    group of the first policy (by name) that names the exact path and drops the others'.
    """
    path = _norm_path(path)
    if not path:
        raise ValueError("control_group_policy: path is empty; give the credential's API path (e.g. "
                         "jinbao/data/facility/main/core-switch)")
    caps = list(dict.fromkeys(capabilities))
    bad = [c for c in caps if c not in _CAPABILITIES]
    if not caps or bad:
        raise ValueError(f"control_group_policy: capabilities {bad or caps!r} for {path}: give some of "
                         f"{', '.join(_CAPABILITIES)} (deny cannot be approved)")
    controlled = [c for c in caps if c != "sudo"]
    if not controlled:
        raise ValueError(f"control_group_policy: capabilities for {path}: sudo alone is no operation to control")
    groups = list(dict.fromkeys(approver_groups))
    if not groups or not all(isinstance(g, str) and g.strip() for g in groups):
        raise ValueError(f"control_group_policy: approver_groups for {path}: name at least one identity group")
    if isinstance(approvals, bool) or not isinstance(approvals, int) or approvals < 1:
        raise ValueError(f"control_group_policy: approvals for {path} is {approvals!r}: give an integer >= 1 "
                         "(OpenBao refuses a factor without approvals)")
    if _seconds(ttl) <= 0:
        raise ValueError(f"control_group_policy: ttl for {path} is {ttl!r}: give a duration > 0 such as "
                         "'1h' or '900s' (with 0 OpenBao expires approvals at once and never releases the read)")
    ttl_text = f"{ttl}s" if isinstance(ttl, int) else str(ttl)
    return "\n".join([
        f"path {_q(path)} {{",
        f"  capabilities = {_list(caps)}",
        "  control_group = {",
        f"    ttl = {_q(ttl_text)}",
        f"    factor {_q(FACTOR_NAME)} {{",
        f"      controlled_capabilities = {_list(controlled)}",
        "      identity {",
        f"        group_names = {_list(groups)}",
        f"        approvals = {approvals}",
        "      }",
        "    }",
        "  }",
        "}",
        "",
    ])


def requester_policy(kv_mount: str = "jinbao") -> str:
    """HCL for a requester's bookkeeping: create (never overwrite) pending and redeemed records, read done."""
    base = f"{kv_mount.strip('/')}/data/{APPROVALS_PREFIX}"
    return "\n".join([
        f'path "{base}/pending/*" {{ capabilities = ["create", "read"] }}',
        f'path "{base}/redeemed/*" {{ capabilities = ["create", "read"] }}',
        f'path "{base}/done/*" {{ capabilities = ["read"] }}',
        "",
    ])


def approver_policy(kv_mount: str = "jinbao") -> str:
    """HCL for an approver: Vault's control-group endpoints, read the pending records, write the done ones."""
    base = f"{kv_mount.strip('/')}/data/{APPROVALS_PREFIX}"
    return "\n".join([
        'path "sys/control-group/authorize" { capabilities = ["update"] }',
        'path "sys/control-group/request" { capabilities = ["update"] }',
        f'path "{base}/pending/*" {{ capabilities = ["read"] }}',
        f'path "{base}/done/*" {{ capabilities = ["create", "read", "update"] }}',
        "",
    ])


def token_request_path(role: str) -> str:
    """The API path whose create a control group guards for a change token of token role `role`: the token that
    holds the capabilities of a high-risk change (CA operations, offboarding), which no duty's own token has."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", str(role or "")):
        raise ValueError(f"token role {role!r}: give a token role name such as jinbao-change-ca")
    return f"auth/token/create/{role}"


def is_token_request(path: str) -> bool:
    return _norm_path(path).startswith("auth/token/create/")


# --- the change an approval is bound to ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ChangeBinding:
    """The change an approval is for: playbook, limit, the sha256 hex digest of the plan or intended
    configuration, the requester (certificate CN) and the controlled credential path."""

    playbook: str
    limit: str
    digest: str
    requester: str
    path: str

    def __post_init__(self) -> None:
        for name in ("playbook", "limit", "digest", "requester", "path"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"ChangeBinding: {name} must be a string")
        object.__setattr__(self, "path", _norm_path(self.path))
        for name in ("playbook", "requester", "path"):
            if not getattr(self, name).strip():
                raise ValueError(f"ChangeBinding: {name} is empty")
        if not re.fullmatch(r"[0-9a-f]{64}", self.digest):
            raise ValueError("ChangeBinding: digest must be the sha256 hex of the plan or intended configuration "
                             "(ChangeBinding.digest_of(text))")

    @staticmethod
    def digest_of(text: str | bytes) -> str:
        """The sha256 hex digest of a plan or intended configuration."""
        return hashlib.sha256(text.encode("utf-8") if isinstance(text, str) else text).hexdigest()

    def canonical(self) -> str:
        """Canonical JSON: sorted keys, no spaces; equal bindings give equal text."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def record(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ChangeBinding:
        return cls(**{f.name: record.get(f.name, "") for f in fields(cls)})

    def differences(self, other: ChangeBinding) -> list[str]:
        """The names of the fields in which `other` differs."""
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]


@dataclass(frozen=True)
class Pending:
    """A controlled read waiting for approval: what request() returns and redeem() takes. The wrapping token is
    kept out of repr() and of every record; only the accessor is shown."""

    accessor: str
    path: str
    creation_time: str
    ttl: int
    binding: ChangeBinding
    requester_entity_id: str
    kv_mount: str = "jinbao"
    token: str = field(repr=False, default="")

    @property
    def expires_at(self) -> datetime:
        return _parse_time(self.creation_time) + timedelta(seconds=self.ttl)


# --- the flow ----------------------------------------------------------------------------------------------------

def request(client: Any, path: str, binding: ChangeBinding, kv_mount: str = "jinbao") -> Pending:
    """Make the controlled read of `path` with the requester's `client` and record the binding for approvers.

    Raises ApprovalError "not guarded" when Vault answers the read without a control-group wrap (the answer is
    dropped unread), and revokes the wrap again when the binding cannot be recorded.
    """
    path = _norm_path(path)
    if binding.path != path:
        raise ApprovalError("binding", f"the binding is for {binding.path}, not the path read", path=path)
    entity_id, entity_name = _whoami(client, "request", path)
    try:
        if is_token_request(path):  # a change token: the token role's create, deferred until approved
            answer = call("approval", "token create", client.adapter.post, f"/v1/{path}", json={})
        else:
            answer = call("approval", "read", client.adapter.get, f"/v1/{path}")
    except VaultError as exc:
        raise ApprovalError("request", f"Vault refused the request ({_reason(exc)})", path=path) from None
    wrap = (answer or {}).get("wrap_info") if isinstance(answer, dict) else None
    if not wrap:
        if isinstance(answer, dict) and answer.get("data") is None:
            raise ApprovalError("not guarded", "Vault neither answered nor wrapped the read: the policy's "
                                "control_group has no ttl (or ttl 0); set one with control_group_policy()", path=path)
        raise ApprovalError("not guarded", "Vault answered the read without a control-group wrap, so no approval "
                            "is needed; put the path under control_group_policy() in the only policy naming it",
                            path=path)
    accessor = str(wrap.get("accessor", ""))
    pending = Pending(accessor=accessor, path=path, creation_time=str(wrap.get("creation_time", "")),
                      ttl=int(wrap.get("ttl", 0)), binding=binding, requester_entity_id=entity_id,
                      kv_mount=kv_mount, token=str(wrap.get("token", "")))
    if _norm_path(str(wrap.get("creation_path", path))) != path:
        _burn(client, pending)
        raise ApprovalError("request", f"Vault wrapped {wrap.get('creation_path')!r}, not the path read",
                            accessor, path)
    record = {"binding": binding.record(), "accessor": accessor, "request_path": path,
              "requester_entity_id": entity_id, "requester_entity_name": entity_name,
              "creation_time": pending.creation_time, "ttl": pending.ttl}
    try:
        call("approval", "pending record", client.secrets.kv.v2.create_or_update_secret,
             path=f"{APPROVALS_PREFIX}/pending/{accessor}", secret=record, cas=0, mount_point=kv_mount)
    except VaultError as exc:
        _burn(client, pending)
        raise ApprovalError("pending record", f"cannot write {kv_mount}/data/{APPROVALS_PREFIX}/pending/"
                            f"{accessor} ({_reason(exc)}); the request was withdrawn", accessor, path) from None
    return pending


def describe(approver_client: Any, accessor: str, kv_mount: str = "jinbao") -> dict[str, Any]:
    """What an approver approves: Vault's own view of the request (sys/control-group/request) joined with the
    binding on record. Refuses when Vault's request path or requesting entity differs from the record's."""
    vault = _control_group_request(approver_client, accessor)
    found = read_or_none("approval", "pending record", approver_client.secrets.kv.v2.read_secret_version,
                         path=f"{APPROVALS_PREFIX}/pending/{accessor}", mount_point=kv_mount,
                         raise_on_deleted_version=True)
    vault_path = _norm_path(str(vault.get("request_path", "")))
    if not found:
        raise ApprovalError("binding record", f"no record at {kv_mount}/data/{APPROVALS_PREFIX}/pending/{accessor}; "
                            "approve only a request made by request()", accessor, vault_path)
    record = found["data"]["data"]
    try:
        binding = ChangeBinding.from_record(record.get("binding") or {})
    except (TypeError, ValueError) as exc:
        raise ApprovalError("binding record", f"the record is not a change binding ({exc})", accessor,
                            vault_path) from None
    if vault_path != binding.path:
        raise ApprovalError("request path", f"Vault's request is for {vault_path}, the binding on record for "
                            f"{binding.path}", accessor, vault_path)
    entity = vault.get("request_entity") or {}
    entity_id = str(entity.get("ID") or entity.get("id") or "")
    if entity_id != str(record.get("requester_entity_id", "")):
        raise ApprovalError("requester", f"Vault's requesting entity {entity_id} is not the entity on record "
                            f"{record.get('requester_entity_id')}", accessor, vault_path)
    return {
        "accessor": accessor,
        "path": vault_path,
        "operation": vault.get("request_operation"),
        "approved": bool(vault.get("approved")),
        "requesting_entity": {"id": entity_id, "name": entity.get("name") or entity.get("Name")},
        "authorizations": list(vault.get("authorizations") or []),
        "binding": binding.record(),
        "creation_time": record.get("creation_time"),
        "ttl": record.get("ttl"),
    }


def authorize(approver_client: Any, accessor: str, expect: ChangeBinding, kv_mount: str = "jinbao") -> dict[str, Any]:
    """Approve the request behind `accessor` if it is the change `expect` describes and the approver is not the
    requester; Vault records the approval only from a direct member of an approver group. Returns describe()'s
    view after the approval; the approver and time go to `approvals/done/<accessor>`."""
    view = describe(approver_client, accessor, kv_mount)
    path = view["path"]
    differ = ChangeBinding.from_record(view["binding"]).differences(expect)
    if differ:
        raise ApprovalError("binding", f"an approval for a different change: the request differs in "
                            f"{', '.join(differ)} from the change to approve", accessor, path)
    approver_id, approver_name = _whoami(approver_client, "approver", path, accessor)
    if not approver_id:
        raise ApprovalError("approver", "the approver's token has no identity entity (a root or orphan token "
                            "cannot approve); log in as a person", accessor, path)
    if approver_id == view["requesting_entity"]["id"]:
        raise ApprovalError("self-approval", f"{approver_name} made this request; a second person of another "
                            "duty must approve it", accessor, path)
    try:
        call("approval", "authorize", approver_client.adapter.post, "/v1/sys/control-group/authorize",
             json={"accessor": accessor})
    except VaultError as exc:
        reason = _reason(exc)
        if "token owner cannot be approver" in reason:
            raise ApprovalError("self-approval", f"Vault refused: {reason}", accessor, path) from None
        if "already authorized" in reason:
            raise ApprovalError("approver", f"{approver_name} has already approved this request", accessor,
                                path) from None
        raise ApprovalError("authorize", f"Vault refused the approval ({reason})", accessor, path) from None
    after = describe(approver_client, accessor, kv_mount)
    if approver_id not in {str(a.get("entity_id")) for a in after["authorizations"]}:
        raise ApprovalError("approver group", f"Vault did not count the approval of {approver_name}: not a direct "
                            "member of the control group's approver groups", accessor, path)
    _record_approval(approver_client, kv_mount, accessor, after, approver_id, approver_name)
    return after


def redeem(requester_client: Any, pending: Pending, binding: ChangeBinding) -> dict[str, Any]:
    """The credential, once approved: checks that `binding` (the change about to be applied) is the one approved,
    unwraps the original wrapping token, revokes it so it cannot be unwrapped again, and returns the secret's
    data (KV v2: the inner `data`), or for a change token (token_request_path) its client_token, accessor,
    policies and ttl: a child of the requester's token, so it ends with the run. ApprovalError names
    not-yet-approved, expired, already used."""
    accessor, path = pending.accessor, pending.path
    differ = pending.binding.differences(binding)
    if differ:
        raise ApprovalError("binding", f"an approval for a different change: the change to apply differs in "
                            f"{', '.join(differ)} from the one approved", accessor, path)
    wrapped = twin(requester_client)
    wrapped.token = pending.token
    try:
        answer = call("approval", "unwrap", wrapped.adapter.post, "/v1/sys/wrapping/unwrap")
    except VaultError as exc:
        reason = _reason(exc)
        if _INVALID_WRAP in reason:
            raise _why_not_valid(requester_client, pending) from None
        if "permission denied" in reason:
            raise ApprovalError("requester token", "Vault refused the deferred read (permission denied): it runs "
                                "with the requester's token, which has expired or was revoked, or its policy no "
                                "longer grants the path", accessor, path) from None
        raise ApprovalError("unwrap", f"Vault refused the unwrap ({reason})", accessor, path) from None
    burned = _burn(requester_client, pending)
    redeemed = {"accessor": accessor, "path": path, "digest": binding.digest, "redeemed_at": _now(),
                "requester_entity_id": pending.requester_entity_id, "wrap_revoked": burned}
    try:
        call("approval", "redeemed record", requester_client.secrets.kv.v2.create_or_update_secret,
             path=f"{APPROVALS_PREFIX}/redeemed/{accessor}", secret=redeemed, cas=0,
             mount_point=pending.kv_mount)
    except VaultError:
        pass  # the wrap is revoked already; the record only explains a later "already used"
    auth = (answer or {}).get("auth") or {}
    if auth.get("client_token"):  # a change token (is_token_request): kept for the run, never shown
        return {"client_token": auth["client_token"], "accessor": auth.get("accessor", ""),
                "policies": list(auth.get("token_policies") or auth.get("policies") or []),
                "ttl": int(auth.get("lease_duration") or 0)}
    data = (answer or {}).get("data") or {}
    if isinstance(data.get("data"), dict) and "metadata" in data:
        return dict(data["data"])
    return dict(data)


def wait_for_approval(client: Any, pending: Pending, timeout: float = 900, poll: float = 2,
                      progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Poll the approval record of `pending` (approvals/done/<accessor>, written by authorize()) until an approver
    has recorded it; returns that record's data. ApprovalError "no approval" after `timeout` seconds (the request
    then lapses with its TTL), "approval record" when Vault cannot be read. `progress` gets a line every minute."""
    done_path = f"/v1/{pending.kv_mount}/data/{APPROVALS_PREFIX}/done/{pending.accessor}"
    deadline, waited = time.monotonic() + float(timeout), 0.0
    while True:
        try:
            done = read_or_none("vault", "approval record", client.adapter.get, done_path)
        except VaultError as exc:
            raise ApprovalError("approval record", f"cannot read it ({_reason(exc)})", pending.accessor,
                                pending.path) from None
        if done:
            return (done.get("data") or {}).get("data") or {}
        if time.monotonic() >= deadline:
            raise ApprovalError("no approval", f"no approval of change {pending.binding.digest} within {timeout:g} s; "
                                "the request lapses with its TTL", pending.accessor, pending.path)
        time.sleep(poll)
        waited += poll
        if progress and waited % 60 < poll:
            progress(f"still waiting for the approval of {pending.accessor} ({int(waited)} s)")


def obtain(client: Any, path: str, binding: ChangeBinding, *, what: str, approver: str, kv_mount: str = "jinbao",
           timeout: float = 900, poll: float = 2, say: Callable[[str], None] = print) -> tuple[dict, dict, Pending]:
    """The requester's whole side: request(), tell the person at the console what to approve and how (`approver`
    names the duty, e.g. "a security administrator"), wait_for_approval(), redeem(). Returns (the released data,
    the approval record, the request). ApprovalError, one line, from any step."""
    pending = request(client, path, binding, kv_mount)
    say(f"two-person control: {what} waits for a second operator ({approver}) to approve\n"
        f"  change   {binding.digest}\n  playbook {binding.playbook}, limit {binding.limit}, requested by "
        f"{binding.requester}\n  accessor {pending.accessor} (valid {pending.ttl} s)\n"
        f"  approve: JINBAO_OPERATOR=<{approver.split(' ', 1)[-1]}> ansible-playbook playbooks/approve.yml "
        f"-e accessor={pending.accessor} -e digest={binding.digest}")
    done = wait_for_approval(client, pending, timeout, poll, progress=lambda line: say(f"two-person control: {line}"))
    return redeem(client, pending, binding), done, pending


# --- helpers -----------------------------------------------------------------------------------------------------

def _why_not_valid(client: Any, pending: Pending) -> ApprovalError:
    """Why Vault says the wrap is not valid: it answers the same for unapproved, expired and used wraps."""
    accessor, path = pending.accessor, pending.path
    mount = pending.kv_mount
    try:
        redeemed = read_or_none("approval", "redeemed record", client.secrets.kv.v2.read_secret_version,
                                path=f"{APPROVALS_PREFIX}/redeemed/{accessor}", mount_point=mount,
                                raise_on_deleted_version=True)
    except VaultError:
        redeemed = None
    if redeemed:
        at = redeemed["data"]["data"].get("redeemed_at", "?")
        return ApprovalError("already used", f"the approved wrap was redeemed at {at}; an approval is good for one "
                             "read: request again", accessor, path)
    now = _vault_time(client)
    if pending.creation_time and now >= pending.expires_at:
        return ApprovalError("expired", f"the approval window ({pending.ttl}s from {pending.creation_time}) has "
                             "passed; request and approve again", accessor, path)
    try:
        done = read_or_none("approval", "done record", client.secrets.kv.v2.read_secret_version,
                            path=f"{APPROVALS_PREFIX}/done/{accessor}", mount_point=mount,
                            raise_on_deleted_version=True)
    except VaultError:
        done = None
    if done and done["data"]["data"].get("approved"):
        return ApprovalError("already used", "approved, but Vault no longer holds the wrap: it was unwrapped and "
                             "revoked, or revoked; request again", accessor, path)
    return ApprovalError("not yet approved", "Vault will not release the read until an approver of another duty "
                         "authorizes it (approvals: describe/authorize)", accessor, path)


def _control_group_request(client: Any, accessor: str) -> dict[str, Any]:
    try:
        answer = call("approval", "control-group request", client.adapter.post, "/v1/sys/control-group/request",
                      json={"accessor": accessor})
    except VaultError as exc:
        reason = _reason(exc)
        if "invalid accessor" in reason or "invalid wrapping token" in reason:
            raise ApprovalError("no such request", "Vault holds no control-group request for it: expired, already "
                                "redeemed, or never made", accessor) from None
        raise ApprovalError("control-group request", f"Vault refused ({reason})", accessor) from None
    return (answer or {}).get("data") or {}


def _record_approval(client: Any, kv_mount: str, accessor: str, view: dict[str, Any], approver_id: str,
                     approver_name: str) -> None:
    where = f"{APPROVALS_PREFIX}/done/{accessor}"
    found = read_or_none("approval", "done record", client.secrets.kv.v2.read_secret_version, path=where,
                         mount_point=kv_mount, raise_on_deleted_version=True)
    approvals = list(found["data"]["data"].get("approvals", [])) if found else []
    approvals.append({"entity_id": approver_id, "name": approver_name, "approved_at": _now()})
    record = {"accessor": accessor, "path": view["path"], "binding": view["binding"], "approved": view["approved"],
              "approvals": approvals}
    version = found["data"]["metadata"]["version"] if found else 0
    try:
        call("approval", "done record", client.secrets.kv.v2.create_or_update_secret, path=where, secret=record,
             cas=version, mount_point=kv_mount)
    except VaultError as exc:
        raise ApprovalError("done record", f"Vault recorded the approval, but {kv_mount}/data/{where} was not "
                            f"written ({_reason(exc)})", accessor, view["path"]) from None


def _whoami(client: Any, check: str, path: str, accessor: str = "") -> tuple[str, str]:
    try:
        data = call("approval", "lookup-self", client.auth.token.lookup_self)["data"]
    except VaultError as exc:
        raise ApprovalError(check, f"the token was refused ({_reason(exc)})", accessor, path) from None
    return str(data.get("entity_id") or ""), str(data.get("display_name") or "")


def _burn(client: Any, pending: Pending) -> bool:
    """Revoke the wrapping token with itself (OpenBao 2.7.2's wrapping policy allows revoke-self)."""
    wrapped = twin(client)
    wrapped.token = pending.token
    try:
        call("approval", "revoke wrap", wrapped.adapter.post, "/v1/auth/token/revoke-self")
    except VaultError:
        return False
    return True


def _vault_time(client: Any) -> datetime:
    """Vault's clock (sys/health), so expiry is judged by the clock that enforces it; the local one if not."""
    try:
        health = call("approval", "sys/health", client.adapter.get, "/v1/sys/health",
                      params={"standbyok": "true", "perfstandbyok": "true"})
        return datetime.fromtimestamp(int(health["server_time_utc"]), UTC)
    except (VaultError, KeyError, TypeError, ValueError):
        return datetime.now(UTC)


def _parse_time(text: str) -> datetime:
    match = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?", text.strip())
    if not match:
        raise ValueError(f"not a time: {text!r}")
    frac = (match.group(2) or "")[:7]
    zone = match.group(3) or "Z"
    parsed = datetime.fromisoformat(match.group(1) + frac + ("+00:00" if zone == "Z" else zone))
    return parsed.astimezone(UTC)


def _seconds(ttl: str | int) -> int:
    if isinstance(ttl, bool):
        raise ValueError(f"ttl {ttl!r} is not a duration")
    if isinstance(ttl, int):
        return ttl
    text = str(ttl).strip()
    if not _DURATION.match(text):
        raise ValueError(f"control_group_policy: ttl {ttl!r} is not a duration: give seconds or e.g. '1h', '15m', "
                         "'1h30m'")
    if text.isdigit():
        return int(text)
    return sum(int(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in re.findall(r"(\d+)([hms])", text))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _norm_path(path: str) -> str:
    path = str(path).strip().strip("/")
    return path[3:] if path.startswith("v1/") else path


def _reason(exc: VaultError) -> str:
    text = _one_line(exc.message)
    return re.sub(r"^\d+ errors? occurred: \* ", "", text).split(", on ")[0]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _q(text: str) -> str:
    return json.dumps(str(text))


def _list(items: list[str]) -> str:
    return "[" + ", ".join(_q(i) for i in items) + "]"
