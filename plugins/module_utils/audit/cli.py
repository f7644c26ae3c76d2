"""`make audit-verify`: check the hash-chained audit log and compare its two sinks.

python -m ansible_collections.jinbao.dc.plugins.module_utils.audit.cli verify [--log F] [--sink2 F | --no-sink2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from ansible_collections.jinbao.dc.plugins.module_utils.audit.chain import DEFAULT_LOG, DEFAULT_SINK2, log_files, verify


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
    args = parser.parse_args(argv)
    if not log_files(args.log):
        print(f"audit-verify: no audit log at {args.log} (nothing has run yet, or the path is wrong: --log)",
              file=sys.stderr)
        return 2
    report = verify(args.log, None if args.no_sink2 else args.sink2)
    if args.json:
        print(json.dumps({**asdict(report), "ok": report.ok}, indent=2, default=str))
    else:
        print(f"audit-verify: {report.records} record(s) in {len(report.files)} file(s) of {args.log}")
        for finding in report.findings:
            print(f"  TAMPERED {finding}")
        for run in report.unfinished_runs:
            print(f"  note: a run started with no end record (it died or is still running): {run}")
        agree = "" if args.no_sink2 else ", both copies agree"
        print(f"audit-verify: chain intact{agree}" if report.ok else
              "audit-verify: FAILED; the first line above names the first record that was changed")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
