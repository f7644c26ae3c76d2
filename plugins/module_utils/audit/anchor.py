"""Anchors of the audit chain in Vault: after every run the chain's head is written to Vault KV v2, create-only.

A hash chain on the controller proves the order and content of its records, but not that the whole chain was
not rebuilt: whoever can write the log can edit a record and re-seal every record after it. An anchor is the
head record's `seq` and `sha256`, written with the operator's token to Vault, whose policies grant `create` but
not `update` on the anchors (and whose audit device records the write). A chain re-sealed or truncated on the
controller no longer matches the anchors written before it was touched, and verify_anchors() names where.

Layout (KV v2 mount `jinbao`):

    audit/anchors/<seq, zero-padded to 12 digits>  ->  {seq, hash, run_id, time, log}

`hash` is the record's own `sha256` field (chain.py: SHA-256 of its canonical JSON without that field), which
covers its `prev_sha256` and so every record before it. `time` is when the anchor was written (UTC), `log` the
log file it was taken from. The write uses cas=0 (create only), so even a token that may update is refused.

The client is an hvac client from seams/vault (connect()); Vault's refusals become seams.vault.VaultError.
verify_anchors() is pure: `make audit-verify` (audit/cli.py --anchors FILE) runs it on anchors read elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.jinbao.dc.plugins.module_utils.audit import chain
from ansible_collections.jinbao.dc.plugins.module_utils.seams import vault

ANCHORS = "audit/anchors"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class AnchorConflict(vault.VaultError):
    """Vault already holds an anchor for this seq with another hash: the chain was re-sealed after it."""


def anchor_path(seq: int) -> str:
    """The KV path (below the mount) of the anchor of record `seq`: audit/anchors/000000000042."""
    return f"{ANCHORS}/{int(seq):012d}"


def anchor_body(record: Mapping[str, Any], log_path: str) -> dict[str, Any]:
    """The anchor of a sealed chain record (what Appender.append returns): {seq, hash, run_id, time, log}.

    Raises ValueError naming the field when `record` is not a sealed record."""
    seq, digest = record.get("seq"), record.get("sha256")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise ValueError(f"audit record: seq: {seq!r} is not a positive integer; anchor a record that "
                         "chain.Appender.append returned (or read from the log)")
    if not isinstance(digest, str) or not _SHA256.match(digest):
        raise ValueError(f"audit record seq {seq}: sha256: {digest!r} is not a SHA-256 hex digest; anchor a "
                         "sealed record")
    return {"seq": seq, "hash": digest, "run_id": str(record.get("run_id") or ""),
            "time": chain.iso(chain.utc_now()), "log": str(log_path)}


def write_anchor(client: Any, record: Mapping[str, Any], log_path: str, mount: str = "jinbao",
                 name: str = "vault") -> dict[str, Any]:
    """Write the anchor of `record` (create only, cas=0) and return {path, created, anchor}.

    Vault refuses a second write to the same seq: with a create-only policy as 'permission denied', with a
    token that may update as a check-and-set mismatch. Either way the anchor already there is read back:
    the same hash is fine (created False: a retried write, or the same head anchored twice); another hash
    raises AnchorConflict naming both. Any other failure raises seams.vault.VaultError (`name`: the Vault's
    inventory name), and the caller fails closed."""
    body = anchor_body(record, log_path)
    path = anchor_path(body["seq"])
    where = f"{mount}/{path}"
    try:
        vault.call(name, where, client.secrets.kv.v2.create_or_update_secret, path, secret=body, cas=0,
                   mount_point=mount)
        return {"path": where, "created": True, "anchor": body}
    except vault.VaultError as refused:
        try:
            held = _read(client, mount, path, name)
        except vault.VaultError as unreadable:
            raise vault.VaultError(name, where, f"the anchor of seq {body['seq']} was not written "
                                                f"({refused.message}), and what Vault holds there cannot be read "
                                                f"({unreadable.message}); the token's policy needs create and "
                                                f"read on {mount}/data/{ANCHORS}/*") from None
        if held is not None and held.get("deleted"):
            raise AnchorConflict(name, where, f"the anchor of seq {body['seq']} was deleted in Vault "
                                              f"({held['deleted']}) and cannot be written again "
                                              f"({refused.message}); anchors are create-only: find who deleted "
                                              "it in Vault's audit log") from None
        if held is None:
            raise vault.VaultError(name, where, f"the anchor of seq {body['seq']} was not written "
                                                f"({refused.message}); the token's policy needs create on "
                                                f"{mount}/data/{ANCHORS}/*") from None
    if held.get("hash") != body["hash"] or held.get("seq") != body["seq"]:
        raise AnchorConflict(name, where, f"Vault holds an anchor of seq {body['seq']} with hash "
                                          f"{held.get('hash')} (written {held.get('time')}, run "
                                          f"{held.get('run_id') or '?'}), but the chain's record seq "
                                          f"{body['seq']} has hash {body['hash']} in {log_path}: the chain was "
                                          "re-sealed or rebuilt after that anchor; run make audit-verify and "
                                          "call the audit administrator")
    return {"path": where, "created": False, "anchor": held}


def read_anchors(client: Any, mount: str = "jinbao", name: str = "vault") -> list[dict[str, Any]]:
    """Every anchor in Vault, sorted by seq: its data plus `path`, and `deleted` (the deletion time) for an
    anchor whose latest version was deleted. No anchor yet is an empty list; any refusal is a VaultError."""
    listed = vault.read_or_none(name, f"{mount}/metadata/{ANCHORS}", client.secrets.kv.v2.list_secrets,
                                ANCHORS, mount_point=mount)
    keys = ((listed or {}).get("data") or {}).get("keys") or []
    anchors = []
    for key in keys:
        if key.endswith("/"):
            continue  # a folder below the anchors is nobody's anchor
        held = _read(client, mount, f"{ANCHORS}/{key}", name)
        if held is not None:
            anchors.append(held)
    return sorted(anchors, key=lambda a: (_seq(a), a["path"]))


def _read(client: Any, mount: str, path: str, name: str) -> dict[str, Any] | None:
    """The anchor at `path` with its `path`, or None when there is none (a deleted one: {path, deleted})."""
    where = f"{mount}/{path}"
    answer = vault.read_or_none(name, where, client.secrets.kv.v2.read_secret_version, path, mount_point=mount,
                                raise_on_deleted_version=False)
    if answer is None:
        return None
    data = answer.get("data") or {}
    meta = data.get("metadata") or {}
    if data.get("data") is None or meta.get("deletion_time") or meta.get("destroyed"):
        seq = path.rsplit("/", 1)[-1]
        return {"seq": int(seq) if seq.isdigit() else seq, "path": where,
                "deleted": meta.get("deletion_time") or "destroyed"}
    return {**data["data"], "path": where}


def _seq(anchor: Mapping[str, Any]) -> int:
    seq = anchor.get("seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else -1


def verify_anchors(records: Iterable[Mapping[str, Any] | None], anchors: Iterable[Mapping[str, Any]]) -> list[str]:
    """What is wrong with the chain's records against Vault's anchors, one line per problem (empty: none).

    - an anchored seq with no record in the chain (not removed by retention, which leaves a `prune` record):
      the log was truncated or records were removed;
    - a record whose sha256 differs from its anchor: the chain was re-sealed on the controller after the
      anchor was written;
    - an anchor that is malformed, sits at another seq's path, or was deleted in Vault.
    `records` are parsed chain records (chain.read_log entries' `record`; None entries are skipped)."""
    hashes: dict[int, set[str]] = {}
    pruned: list[tuple[int, int, str]] = []
    for record in records:
        if not record or not isinstance(record.get("seq"), int):
            continue
        hashes.setdefault(record["seq"], set()).add(str(record.get("sha256")))
        if record.get("type") == "prune" and isinstance(record.get("first_seq"), int) \
                and isinstance(record.get("last_seq"), int):
            pruned.append((record["first_seq"], record["last_seq"], str(record.get("file"))))
    last = max(hashes, default=0)
    problems = []
    for anchor in sorted(anchors, key=_seq):
        seq, digest, path = anchor.get("seq"), anchor.get("hash"), anchor.get("path", "?")
        at = f"anchor {path} (written {anchor.get('time', '?')}, run {anchor.get('run_id') or '?'})"
        if anchor.get("deleted"):
            problems.append(f"seq {seq}: {at} was deleted in Vault ({anchor['deleted']}): anchors are create-only; "
                            "find who deleted it in Vault's audit log")
            continue
        if _seq(anchor) < 1 or not isinstance(digest, str) or not _SHA256.match(digest):
            problems.append(f"{at}: not an anchor (seq {seq!r}, hash {digest!r}); anchors are written by "
                            "audit/anchor.py write_anchor only")
            continue
        if path != "?" and not str(path).endswith(anchor_path(seq)):
            problems.append(f"seq {seq}: {at} sits at the path of another seq (expected .../{anchor_path(seq)})")
            continue
        if seq not in hashes:
            gone = next((p for p in pruned if p[0] <= seq <= p[1]), None)
            if gone:
                continue  # retention removed the file that held it, and said so in the chain
            problems.append(f"seq {seq}: missing from the chain, which ends at seq {last}, but {at} holds hash "
                            f"{digest}: the log was truncated or records were removed")
        elif digest not in hashes[seq]:
            found = ", ".join(sorted(hashes[seq]))
            problems.append(f"seq {seq}: the chain's record has hash {found}, but {at} holds hash {digest}: the "
                            "chain was re-sealed on the controller after this anchor was written")
    return problems
