"""Personnel management (runbooks/policies/personnel.md): the certificate registers."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from typing import Any

from ansible_collections.jinbao.dc.plugins.module_utils.evidence.common import (
    Period,
    Where,
    file_link,
    make_claim,
    make_section,
    parse_time,
    plain_text,
    unavailable_section,
)

# --- personnel: the certificate registers ----------------------------------------------------------------


def personnel_area(registers: Mapping[str, str], period: Period, where: Where) -> list[dict[str, Any]]:
    issued: list[dict[str, Any]] = []
    revoked: list[dict[str, Any]] = []
    read, problems = [], []
    for kind, path in sorted(registers.items()):
        subject = "operator" if kind == "operators" else "service"
        if not os.path.exists(path):
            read.append(f"{where.show(path)} (not present)")
            continue
        read.append(where.show(path))
        try:
            with open(path, encoding="utf-8", newline="") as fh:
                rows = list(csv.DictReader(fh))
        except (OSError, csv.Error) as exc:
            problems.append(f"{path} cannot be read ({exc})")
            continue
        for number, row in enumerate(rows, 2):  # line 1 is the header
            name, serial = plain_text(row.get(subject) or "?"), plain_text(row.get("serial") or "?")
            link = [file_link(path, where, line=number)]
            if period.holds(parse_time(row.get("not_before"))):
                issued.append(make_claim(f"{name} ({subject}) certificate issued",
                                     f"serial {serial}, valid {row.get('not_before')} to {row.get('not_after')}",
                                     link, "ok"))
            if period.holds(parse_time(row.get("revoked_at"))):
                revoked.append(make_claim(f"{name} ({subject}) certificate revoked",
                                      f"serial {serial}, revoked at {row.get('revoked_at')}", link, "ok"))
    source = ", ".join(read) or "no register configured"
    if problems:
        why = "; ".join(problems)
        return [unavailable_section("Certificates issued", ["PE-1", "PE-5", "SY-8"], source, why),
                unavailable_section("Certificates revoked", ["PE-4", "SM-2"], source, why)]
    links = [file_link(p, where) for _, p in sorted(registers.items()) if os.path.exists(p)]
    return [
        make_section("Certificates issued", ["PE-1", "PE-5", "SY-8"], source, issued,
                 f"No certificate issued {period.words()} (read {source}).", links),
        make_section("Certificates revoked", ["PE-4", "SM-2"], source, revoked,
                 f"No certificate revoked {period.words()} (read {source}).", links),
    ]


