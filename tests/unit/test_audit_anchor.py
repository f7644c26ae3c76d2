"""Anchors of the audit chain (plugins/module_utils/audit/anchor.py) against a real chain written by
chain.Appender: a chain re-sealed on the controller (one record edited, every hash after it recomputed, so the
chain itself verifies clean) or truncated is caught by the anchors written before; an untouched chain is not.
`audit-verify --anchors FILE` reports the same and exits non-zero. Vault's side: test_audit_anchor_vault.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ansible_collections.jinbao.dc.plugins.module_utils.audit import anchor, chain, cli

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
RUNS = 6  # run_start + run_end each: 12 records, anchored after every run_end


def run_records(i: int) -> list[dict]:
    return [{"type": "run_start", "run_id": f"run-{i}", "what": {"playbooks": ["migrate.yml"]}},
            {"type": "run_end", "run_id": f"run-{i}", "result": "ok"}]


@pytest.fixture
def anchored(tmp_path: Path) -> tuple[Path, list[dict]]:
    """A two-sink chain of RUNS runs, with the anchor the callback writes after each run (its run_end)."""
    log = tmp_path / "audit" / "audit.jsonl"
    appender = chain.Appender(log, [tmp_path / "sink2" / "audit.jsonl"])
    anchors = []
    for i in range(RUNS):
        for k, body in enumerate(run_records(i)):
            head = appender.append(body, now=T0 + timedelta(minutes=2 * i + k))
        anchors.append({**anchor.anchor_body(head, str(log)), "path": f"jinbao/{anchor.anchor_path(head['seq'])}"})
    return log, anchors


def records(log: Path) -> list[dict]:
    return [e.record for e in chain.read_log(log) if e.record]


def reseal_from(lines: list[str], index: int, **changes) -> list[str]:
    """A forger with write access to the log: change record `index` and re-seal it and every record after it,
    so each sha256 and prev_sha256 is consistent again."""
    out = lines[:index]
    for k, line in enumerate(lines[index:]):
        body = {key: value for key, value in json.loads(line).items() if key not in ("v", "seq", "prev_sha256",
                                                                                   "sha256")}
        if k == 0:
            body.update(changes)
        out.append(chain.seal(body, index + k + 1, out[-1] if out else None))
    return out


def rewrite(tmp_path: Path, lines: list[str]) -> None:
    """The same lines in both sinks: a careful forger edits the second copy too."""
    for sink in ("audit", "sink2"):
        (tmp_path / sink / "audit.jsonl").write_text("".join(line + "\n" for line in lines))


def test_an_untouched_chain_matches_every_anchor(anchored):
    log, anchors = anchored
    assert anchor.verify_anchors(records(log), anchors) == []


def test_anchor_body_holds_the_records_seq_and_own_hash(anchored):
    log, _ = anchored
    head = records(log)[-1]
    body = anchor.anchor_body(head, str(log))
    assert (body["seq"], body["hash"], body["run_id"], body["log"]) == (12, head["sha256"], "run-5", str(log))
    assert anchor.anchor_path(12) == "audit/anchors/000000000012"


def test_a_resealed_chain_verifies_clean_alone_but_not_against_its_anchors(tmp_path, anchored):
    log, anchors = anchored
    lines = log.read_text().splitlines()
    # Record seq 4 (run-1's run_end, anchored) now says the run failed; seq 4..12 are re-sealed.
    forged = reseal_from(lines, 3, result="failed")
    rewrite(tmp_path, forged)
    assert chain.verify(log, tmp_path / "sink2" / "audit.jsonl").ok, "the re-sealed chain should fool the chain check"
    problems = anchor.verify_anchors(records(log), anchors)
    assert [p.split(":")[0] for p in problems] == ["seq 4", "seq 6", "seq 8", "seq 10", "seq 12"]
    first = problems[0]
    assert json.loads(lines[3])["sha256"] in first and json.loads(forged[3])["sha256"] in first
    assert "re-sealed" in first and anchors[1]["time"] in first


def test_a_resealed_record_after_the_last_anchor_is_caught_once_the_next_run_anchors(tmp_path, anchored):
    log, anchors = anchored
    lines = log.read_text().splitlines()
    rewrite(tmp_path, reseal_from(lines, 10, result="failed"))  # seq 11, run-5's run_start: before anchor 12
    assert anchor.verify_anchors(records(log), anchors[:-1]) == []  # not anchored yet: nothing to compare
    assert [p.split(":")[0] for p in anchor.verify_anchors(records(log), anchors)] == ["seq 12"]


def test_a_truncated_chain_names_every_anchored_seq_it_lost(tmp_path, anchored):
    log, anchors = anchored
    lines = log.read_text().splitlines()
    rewrite(tmp_path, lines[:7])  # seq 1..7 remain: the last run_end anchored is seq 6
    assert chain.verify(log, tmp_path / "sink2" / "audit.jsonl").ok, "a cut at a record boundary looks intact"
    problems = anchor.verify_anchors(records(log), anchors)
    assert [p.split(":")[0] for p in problems] == ["seq 8", "seq 10", "seq 12"]
    assert "missing from the chain, which ends at seq 7" in problems[0] and "truncated" in problems[0]


def test_records_removed_by_retention_are_not_a_truncation(anchored):
    log, anchors = anchored
    kept = [r for r in records(log) if r["seq"] > 6]
    prune = {"type": "prune", "seq": 13, "first_seq": 1, "last_seq": 6, "file": "audit-20261101T000000Z.jsonl",
             "sha256": "0" * 64}
    assert anchor.verify_anchors([*kept, prune], anchors) == []
    assert [p.split(":")[0] for p in anchor.verify_anchors(kept, anchors)] == ["seq 2", "seq 4", "seq 6"]


def test_deleted_misplaced_or_malformed_anchors_are_problems(anchored):
    log, anchors = anchored
    deleted = {"seq": 2, "path": "jinbao/audit/anchors/000000000002", "deleted": "2026-12-02T00:00:00Z"}
    moved = {**anchors[2], "path": "jinbao/audit/anchors/000000000099"}
    junk = {"seq": "x", "hash": "nothing", "path": "jinbao/audit/anchors/junk"}
    problems = anchor.verify_anchors(records(log), [deleted, moved, junk])
    assert len(problems) == 3
    assert any("deleted in Vault" in p for p in problems)
    assert any("path of another seq" in p for p in problems)
    assert any("not an anchor" in p for p in problems)


def test_anchor_body_refuses_a_record_that_is_not_sealed():
    with pytest.raises(ValueError, match="seq"):
        anchor.anchor_body({"type": "run_end"}, "audit.jsonl")
    with pytest.raises(ValueError, match="sha256"):
        anchor.anchor_body({"seq": 3, "sha256": "abc"}, "audit.jsonl")


def cli_verify(tmp_path: Path, log: Path, anchors: list[dict] | None, capsys) -> tuple[int, str]:
    argv = ["verify", "--log", str(log), "--sink2", str(tmp_path / "sink2" / "audit.jsonl")]
    if anchors is not None:
        path = tmp_path / "anchors.json"
        path.write_text(json.dumps(anchors))
        argv += ["--anchors", str(path)]
    code = cli.main(argv)
    return code, capsys.readouterr().out


def test_audit_verify_with_anchors_fails_on_a_resealed_chain_and_passes_on_the_original(tmp_path, anchored, capsys):
    log, anchors = anchored
    code, out = cli_verify(tmp_path, log, anchors, capsys)
    assert code == 0, out
    assert "matches its anchors in Vault" in out
    lines = log.read_text().splitlines()
    rewrite(tmp_path, reseal_from(lines, 3, result="failed"))
    code, out = cli_verify(tmp_path, log, None, capsys)
    assert code == 0, "without anchors the re-sealed chain passes, as before"
    code, out = cli_verify(tmp_path, log, anchors, capsys)
    assert code == 1, out
    assert "ANCHOR seq 4:" in out and "does not match Vault's anchors" in out


def test_audit_verify_refuses_an_anchors_file_that_is_not_a_list(tmp_path, anchored, capsys):
    log, _ = anchored
    bad = tmp_path / "anchors.json"
    bad.write_text('{"seq": 1}')
    assert cli.main(["verify", "--log", str(log), "--no-sink2", "--anchors", str(bad)]) == 2
    assert "not a JSON list" in capsys.readouterr().err


class RefusingKV:
    """A fake hvac kv.v2 as Vault answers a create-only policy: a second write to a path is refused."""

    def __init__(self) -> None:
        self.data: dict[str, dict] = {}

    def create_or_update_secret(self, path, secret, cas=None, mount_point=None):
        assert cas == 0, "anchors are written create-only"
        if path in self.data:
            raise anchor.vault.VaultError("vault", path, "permission denied")
        self.data[path] = dict(secret)
        return {"data": {"version": 1}}

    def read_secret_version(self, path, mount_point=None, raise_on_deleted_version=None):
        if path not in self.data:
            return None
        return {"data": {"data": self.data[path], "metadata": {"deletion_time": "", "destroyed": False}}}

    def list_secrets(self, path, mount_point=None):
        return {"data": {"keys": sorted(p.rsplit("/", 1)[-1] for p in self.data)}}


class FakeClient:
    def __init__(self) -> None:
        kv = RefusingKV()
        self.secrets = type("S", (), {"kv": type("K", (), {"v2": kv})()})()


def test_write_anchor_accepts_the_same_head_twice_and_names_both_hashes_on_another(anchored):
    log, _ = anchored
    head = records(log)[-1]
    client = FakeClient()
    assert anchor.write_anchor(client, head, str(log))["created"] is True
    again = anchor.write_anchor(client, head, str(log))
    assert again["created"] is False and again["anchor"]["hash"] == head["sha256"]
    forged = {**head, "sha256": "f" * 64}
    with pytest.raises(anchor.AnchorConflict) as refused:
        anchor.write_anchor(client, forged, str(log))
    assert head["sha256"] in str(refused.value) and "f" * 64 in str(refused.value)
    assert [a["seq"] for a in anchor.read_anchors(client)] == [12]
