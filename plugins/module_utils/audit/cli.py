"""`make audit-verify`: check the hash-chained audit log and compare its two sinks.

python -m ansible_collections.jinbao.dc.plugins.module_utils.audit.cli verify [--log F] [--sink2 F | --no-sink2]
    [--anchors FILE | --vault URL --vault-ca FILE --cert FILE --key FILE]

With --anchors, the chain is also checked against the anchors Vault holds (audit/anchor.py): FILE is the JSON
list that read_anchors() returns; with --vault they are read from Vault itself, by the audit administrator's
certificate. A chain re-sealed or truncated on the controller fails there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from ansible_collections.jinbao.dc.plugins.module_utils.audit.anchor import read_anchors, verify_anchors
from ansible_collections.jinbao.dc.plugins.module_utils.audit.chain import (
    DEFAULT_LOG,
    DEFAULT_SINK2,
    log_files,
    read_log,
    verify,
)
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import VaultError, cert_login


def load_anchors(path: Path) -> list[dict]:
    """The anchors kept in `path` (a JSON list of objects, as read_anchors returns); ValueError naming the fix."""
    try:
        anchors = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"--anchors: cannot read {path} ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise ValueError(f"--anchors: {path} is not JSON ({exc}); give the list read_anchors() returns") from None
    if not isinstance(anchors, list) or not all(isinstance(a, dict) for a in anchors):
        raise ValueError(f"--anchors: {path} is not a JSON list of anchors (objects with seq and hash)")
    return anchors


def anchors_from_vault(url: str, ca_file: Path | None, cert: Path | None, key: Path | None) -> list[dict]:
    """The anchors Vault holds, read with a certificate login (the audit administrator's); the token is revoked."""
    if not (cert and key):
        raise ValueError("--vault needs --cert and --key (the audit administrator's certificate and key)")
    client, _ = cert_login("vault", url, str(cert), str(key), str(ca_file) if ca_file else None)
    try:
        return read_anchors(client)
    finally:
        try:
            client.auth.token.revoke_self()
        except Exception:  # its TTL ends it anyway
            pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jinbao-audit", description="Check the hash-chained audit log.")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("verify", help="check the chain and compare the two sinks; exit 1 if anything is wrong")
    cmd.add_argument("--log", type=Path, default=Path(os.environ.get("JINBAO_AUDIT_LOG") or DEFAULT_LOG),
                     help="the primary log's current file (default: %(default)s)")
    cmd.add_argument("--sink2", type=Path, default=Path(os.environ.get("JINBAO_AUDIT_SINK2") or DEFAULT_SINK2),
                     help="the second sink's current file (default: %(default)s)")
    cmd.add_argument("--no-sink2", action="store_true", help="check the primary copy alone")
    cmd.add_argument("--json", action="store_true", help="print the report as JSON")
    cmd.add_argument("--anchors", type=Path, metavar="FILE",
                     help="also check the chain against Vault's anchors: a JSON list as read_anchors() returns")
    cmd.add_argument("--vault", metavar="URL", help="read the anchors from this Vault, logged in with --cert/--key "
                                                    "(the audit administrator's certificate)")
    cmd.add_argument("--vault-ca", type=Path, metavar="FILE", help="the CA bundle of the Vault's TLS certificate")
    cmd.add_argument("--cert", type=Path, metavar="FILE", help="the audit administrator's certificate")
    cmd.add_argument("--key", type=Path, metavar="FILE", help="... and its key")
    args = parser.parse_args(argv)
    if not log_files(args.log):
        print(f"audit-verify: no audit log at {args.log} (nothing has run yet, or the path is wrong: --log)",
              file=sys.stderr)
        return 2
    try:
        anchors = load_anchors(args.anchors) if args.anchors else None
        if args.vault:
            anchors = anchors_from_vault(args.vault, args.vault_ca, args.cert, args.key)
            args.anchors = args.vault
    except (ValueError, VaultError) as exc:
        print(f"audit-verify: {exc}", file=sys.stderr)
        return 2
    report = verify(args.log, None if args.no_sink2 else args.sink2)
    records = [e.record for e in read_log(args.log) if e.record] if anchors is not None else []
    problems = verify_anchors(records, anchors) if anchors is not None else []
    ok = report.ok and not problems
    if args.json:
        extra = {"anchors": len(anchors), "anchor_problems": problems} if anchors is not None else {}
        print(json.dumps({**asdict(report), **extra, "ok": ok}, indent=2, default=str))
    else:
        print(f"audit-verify: {report.records} record(s) in {len(report.files)} file(s) of {args.log}")
        for finding in report.findings:
            print(f"  TAMPERED {finding}")
        for problem in problems:
            print(f"  ANCHOR {problem}")
        for run in report.unfinished_runs:
            print(f"  note: a run started with no end record (it died or is still running): {run}")
        if anchors is not None and not problems:
            newest = max((a["seq"] for a in anchors if isinstance(a.get("seq"), int)), default=0)
            head = max((r["seq"] for r in records), default=0)
            later = (f"; records after seq {newest} (to {head}) are not anchored yet" if newest else
                     "; no record is anchored yet") if newest < head else ""
            print(f"  note: {len(anchors)} anchor(s) from {args.anchors} match the chain{later}")
        agree = "" if args.no_sink2 else ", both copies agree"
        anchored = ", matches its anchors in Vault" if anchors is not None else ""
        if ok:
            print(f"audit-verify: chain intact{agree}{anchored}")
        elif report.ok:
            print("audit-verify: FAILED; the chain holds together but does not match Vault's anchors (ANCHOR "
                  "lines above): it was re-sealed or truncated on the controller")
        else:
            print("audit-verify: FAILED; the first line above names the first record that was changed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
