"""Network management (runbooks/policies/network.md): change records, backups and the policy matrix."""

from __future__ import annotations

import glob
import hashlib
import os
from datetime import UTC, datetime
from typing import Any

from ansible_collections.jinbao.dc.plugins.module_utils.evidence.common import (
    Period,
    Where,
    file_link,
    make_claim,
    make_section,
    plain_text,
    read_json,
    stamp,
)

# --- network ---------------------------------------------------------------------------------------------


def _backup_time(path: str) -> datetime | None:
    name = os.path.basename(str(path or "")).removesuffix(".cfg")
    try:
        return datetime.strptime(name, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def _backup_file(backups_dir: str, device: str, recorded: str) -> str:
    """A backup named in a change record, found in the backups folder as it is now."""
    return os.path.join(backups_dir, device, os.path.basename(str(recorded or "")))


def _sha_matches(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
        with open(path + ".sha256", encoding="utf-8") as fh:
            return fh.read().split()[0] == digest
    except (OSError, IndexError):
        return False


def network_area(reports_dir: str, backups_dir: str, period: Period, where: Where) -> list[dict[str, Any]]:
    changes_dir = os.path.join(reports_dir, "network", "changes")
    claims, read = [], 0
    for path in sorted(glob.glob(os.path.join(changes_dir, "*.json"))):
        read += 1
        try:
            record = read_json(path)
            after = record.get("after") or {}
            before = record.get("before") or {}
        except (OSError, ValueError, AttributeError):
            claims.append(make_claim(f"{os.path.basename(path)}", "the change record cannot be read",
                                 [file_link(path, where)], "attention"))
            continue
        when = _backup_time(after.get("backup"))
        if not period.holds(when):
            continue
        device = plain_text(record.get("device") or "?")
        links = [file_link(path, where, text=f"change record {os.path.basename(path)}")]
        kept = []
        for label, side in (("before", before), ("after", after)):
            backup = _backup_file(backups_dir, str(record.get("device")), side.get("backup"))
            if side.get("backup") and os.path.exists(backup):
                links.append(file_link(backup, where, text=f"backup {label}"))
                kept.append(_sha_matches(backup))
            else:
                kept.append(False)
        operator = plain_text((record.get("operator") or {}).get("cn") or "?")
        commands = record.get("commands") or ()
        claims.append(make_claim(f"{device} changed by {operator} at {stamp(when)}",
                             f"{len(commands)} line(s) sent; SHA-256 {str(before.get('sha256', ''))[:12]} → "
                             f"{str(after.get('sha256', ''))[:12]}; backups before and after kept and checksummed: "
                             + ("yes" if all(kept) else "NO"),
                             links, "ok" if all(kept) else "attention"))
    sections = [make_section("Network changes", ["NW-1", "NW-6", "NW-7", "NW-9"],
                         f"{where.show(changes_dir)}/*.json ({read} record(s)) and {where.show(backups_dir)}/",
                         claims, f"No network change recorded {period.words()} (read "
                                 f"{where.show(changes_dir)}/: {read} change record(s) in all).")]
    backup_claims, devices = [], 0
    for folder in sorted(glob.glob(os.path.join(backups_dir, "*"))):
        if not os.path.isdir(folder):
            continue
        devices += 1
        versions = sorted(p for p in glob.glob(os.path.join(folder, "*.cfg")) if period.holds(_backup_time(p)))
        if not versions:
            continue
        checked = [_sha_matches(p) for p in versions]
        backup_claims.append(make_claim(f"{os.path.basename(folder)}: configuration backed up",
                                    f"{len(versions)} version(s) in the period, newest "
                                    f"{stamp(_backup_time(versions[-1]))}; each matches its .sha256: "
                                    + ("yes" if all(checked) else "NO"),
                                    [file_link(versions[-1], where), file_link(versions[-1] + ".sha256", where)]
                                    if os.path.exists(versions[-1] + ".sha256")
                                    else [file_link(versions[-1], where)],
                                    "ok" if all(checked) else "attention"))
    sections.append(make_section("Configuration backups", ["NW-6"], f"{where.show(backups_dir)}/<device>/*.cfg",
                             backup_claims, f"No configuration backup made {period.words()} (read "
                                            f"{where.show(backups_dir)}/: {devices} device folder(s))."))
    policy_claims = []
    policy_files = sorted(glob.glob(os.path.join(reports_dir, "network", "policy-*.json")))
    for path in policy_files:
        written = datetime.fromtimestamp(os.stat(path).st_mtime, UTC)
        try:
            result = read_json(path)
        except (OSError, ValueError):
            policy_claims.append(make_claim(os.path.basename(path), "cannot be read", [file_link(path, where)],
                                        "attention"))
            continue
        matrix, policy = result.get("matrix") or {}, result.get("policy") or {}
        open_flows = sorted(f"{s}→{d}" for s, row in matrix.items() for d, got in (row or {}).items()
                            if got and s != d)
        problems = result.get("problems") or []
        which = os.path.basename(path).removeprefix("policy-").removesuffix(".json")
        policy_claims.append(make_claim(
            f"The {which} configuration's zone-to-zone matrix "
            + ("matches the flow policy (NW-2)" if result.get("passed") else "BREAKS the flow policy (NW-2)"),
            f"checked {stamp(written)}" + ("" if period.holds(written) else " (before or after the period)")
            + f"; open: {', '.join(open_flows) or 'none'}; {len(problems)} problem(s); "
              f"{len(policy)} zone(s)",
            [file_link(path, where)], "ok" if result.get("passed") else "attention"))
    sections.append(make_section("Policy-matrix results", ["NW-2", "NW-3"],
                             f"{where.show(os.path.join(reports_dir, 'network'))}/policy-*.json", policy_claims,
                             f"No policy check recorded: {where.show(os.path.join(reports_dir, 'network'))}/"
                             "policy-*.json does not exist (network.yml has not run)."))
    return sections


