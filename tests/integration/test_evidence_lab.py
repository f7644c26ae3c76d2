"""The evidence pack against the lab: the real city Prometheus (mon-city-01, 127.0.0.1:19090) and the repository's
own records. Every area has claims with links or a plain statement, every file link resolves, and a second run for
the same period changes nothing."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from vcsim_fixtures import ROOT, labctl, run_playbook

pytestmark = pytest.mark.usefixtures("lab_operator")
AUDITOR = "lab-auditor"  # the evidence pack is the audit administrator's

LINK = re.compile(r"\]\(([^)\s]+)\)")


def period() -> tuple[str, str, str]:
    """The hour up to a minute ago: it covers the lab's recent history, and the pack's own runs fall after it."""
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    start = end - timedelta(hours=1)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return start.strftime(fmt), end.strftime(fmt), f"{start:%Y%m%dT%H%M%SZ}_{end:%Y%m%dT%H%M%SZ}"


def sections(markdown: str) -> dict[str, str]:
    """Each '### ' section's body (what follows its 'Source:' line)."""
    parts = re.split(r"^### ", markdown, flags=re.M)[1:]
    return {part.split("\n", 1)[0]: part.split("\n", 1)[1] for part in parts}


def test_the_pack_of_the_last_hour_links_every_claim_and_a_second_run_changes_nothing():
    labctl("up", "--only", "nspawn")
    start, end, slug = period()
    out = ROOT / "reports" / "evidence" / slug
    args = ("-e", f"evidence_from={start}", "-e", f"evidence_to={end}")
    try:
        first = run_playbook("evidence.yml", *args, timeout=300, operator=AUDITOR)
        assert first.returncode == 0, first.output[-3000:]
        md, html = (out / "evidence.md").read_text(), (out / "evidence.html").read_text()
        assert md.startswith("<!--") and "Ansible managed" in md.split("-->")[0]
        assert "<style>" in html and "<link" not in html and "<script" not in html
        for area in ("Security management", "Personnel management", "System management", "Data management",
                     "Machine-room management", "Network management"):
            assert f"\n## {area}\n" in md, area
        bodies = sections(md)
        assert len(bodies) >= 18
        for title, body in bodies.items():
            text = body.split("\nSource: ", 1)[1].split("\n", 1)[1].strip()
            table = text.startswith("| claim | value | status | evidence |")
            statement = text.startswith("**") and ("No " in text or "did not answer" in text
                                                   or "no claim is made" in text)
            assert table or statement, (title, text[:300])
            if table:
                rows = [line for line in text.splitlines() if line.startswith("| ") and "claim | value" not in line]
                assert rows and all("](" in row for row in rows), title
        # the lab Prometheus answered: its sections make claims rather than saying it did not answer
        assert "did not answer" not in md
        assert "| claim | value | status | evidence |" in bodies["RPO conformance (DA-1, DA-2)"]
        for href in set(LINK.findall(md)):
            if href.startswith(("http://", "https://", "#")):
                continue
            assert (out / href.split("#", 1)[0].replace("%20", " ")).resolve().exists(), href
        second = run_playbook("evidence.yml", *args, timeout=300, operator=AUDITOR)
        assert second.returncode == 0, second.output[-3000:]
        assert second.recap("localhost")["changed"] == 0, second.output[-3000:]
        assert (out / "evidence.md").read_text() == md
    finally:
        shutil.rmtree(out, ignore_errors=True)
