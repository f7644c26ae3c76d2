"""The audit log's hash chain (plugins/module_utils/audit/chain.py): every edit, removal, reordering or
insertion of a single line in a 50-record log is named at its exact position; rotation keeps the chain across
files; truncation of one copy shows against the other; retention never removes a file inside 180 days."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.jinbao.dc.plugins.module_utils.audit import chain, cli

N = 50
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def build(tmp_path: Path, n: int = N, **options) -> chain.Appender:
    log = chain.Appender(tmp_path / "audit" / "audit.jsonl", [tmp_path / "sink2" / "audit.jsonl"], **options)
    for i in range(n):
        log.append({"type": "run_end", "run_id": f"run-{i}", "result": "ok", "n": i}, now=T0 + timedelta(minutes=i))
    return log


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()


def write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


def first_finding(tmp_path: Path) -> chain.Finding:
    report = chain.verify(tmp_path / "audit" / "audit.jsonl", tmp_path / "sink2" / "audit.jsonl")
    assert not report.ok, "verify found nothing wrong"
    return report.first


def reseal(line: str, **changes) -> str:
    """A forger's edit: change fields and recompute the record's own sha256 (there is no secret key)."""
    record = {**json.loads(line), **changes}
    record["sha256"] = chain.record_sha256(record)
    return chain.canonical(record)


@pytest.fixture
def log50(tmp_path):
    build(tmp_path)
    path = tmp_path / "audit" / "audit.jsonl"
    pristine = lines_of(path)
    assert chain.verify(path, tmp_path / "sink2" / "audit.jsonl").ok
    return path, pristine


def test_an_untouched_log_and_its_copy_verify_clean(tmp_path):
    build(tmp_path)
    report = chain.verify(tmp_path / "audit" / "audit.jsonl", tmp_path / "sink2" / "audit.jsonl")
    assert report.ok and report.records == N
    assert lines_of(tmp_path / "audit" / "audit.jsonl") == lines_of(tmp_path / "sink2" / "audit.jsonl")


def test_every_edited_line_is_named_at_its_position(tmp_path, log50):
    path, pristine = log50
    for p in range(1, N + 1):
        lines = list(pristine)
        lines[p - 1] = lines[p - 1].replace('"result":"ok"', '"result":"failed"')
        write(path, lines)
        found = first_finding(tmp_path)
        assert (found.copy, found.line, found.kind) == ("primary", p, "edited"), (p, str(found))


def test_every_edited_and_resealed_line_is_named_at_its_position(tmp_path, log50):
    path, pristine = log50
    for p in range(1, N + 1):
        lines = list(pristine)
        lines[p - 1] = reseal(lines[p - 1], result="failed")
        write(path, lines)
        found = first_finding(tmp_path)
        assert found.line == p and found.kind in ("edited", "diverged"), (p, str(found))


def test_every_removed_line_is_named_at_its_position(tmp_path, log50):
    path, pristine = log50
    for p in range(1, N + 1):
        write(path, pristine[:p - 1] + pristine[p:])
        found = first_finding(tmp_path)
        assert found.line == p and found.seq == (p + 1 if p < N else N), (p, str(found))
        assert found.kind == ("removed" if p < N else "truncated"), (p, str(found))


def test_every_line_swapped_with_the_next_is_named_at_its_position(tmp_path, log50):
    path, pristine = log50
    for p in range(1, N):
        lines = list(pristine)
        lines[p - 1], lines[p] = lines[p], lines[p - 1]
        write(path, lines)
        found = first_finding(tmp_path)
        assert (found.copy, found.line, found.kind) == ("primary", p, "reordered"), (p, str(found))


@pytest.mark.parametrize("forgery", ["garbage", "sealed", "replayed"])
def test_every_inserted_line_is_named_at_its_position(tmp_path, log50, forgery):
    path, pristine = log50
    for p in range(1, N + 2):  # before every record, and after the last
        lines = list(pristine)
        before = lines[p - 2] if p >= 2 else None
        if forgery == "garbage":
            forged = '{"note":"nothing happened here"}'
        elif forgery == "sealed":
            forged = chain.seal({"type": "run_end", "time": chain.iso(T0), "run_id": "forged", "result": "ok"},
                                p, before)
        else:
            if before is None:
                continue
            forged = before
        lines.insert(p - 1, forged)
        write(path, lines)
        found = first_finding(tmp_path)
        assert found.line == p, (forgery, p, str(found))
        if p <= N:
            assert (found.copy, found.kind) == ("primary", "inserted"), (forgery, p, str(found))


def test_a_truncated_second_sink_is_detected_and_names_the_last_common_record(tmp_path, log50):
    sink2 = tmp_path / "sink2" / "audit.jsonl"
    write(sink2, lines_of(sink2)[:30])
    found = first_finding(tmp_path)
    assert (found.copy, found.kind, found.line, found.seq) == ("compare", "truncated", 31, 31), str(found)
    assert "sink2 ends after" in found.detail and ":30" in found.detail


def test_a_truncated_primary_that_new_runs_rechained_still_shows_against_the_second_sink(tmp_path, log50):
    path, pristine = log50
    write(path, pristine[:40])  # an intruder cuts the last ten records of the primary ...
    chain.Appender(path, [tmp_path / "sink2" / "audit.jsonl"]).append({"type": "run_start", "run_id": "next"},
                                                                    now=T0 + timedelta(hours=2))
    assert chain.check_chain(chain.read_log(path)) is None  # ... and the primary alone looks whole again
    found = first_finding(tmp_path)
    assert (found.copy, found.line, found.kind) == ("compare", 41, "diverged"), str(found)


def test_rotation_continues_the_chain_across_files_and_verify_reads_them_all(tmp_path):
    log = chain.Appender(tmp_path / "audit" / "audit.jsonl", [tmp_path / "sink2" / "audit.jsonl"], max_bytes=2000)
    for i in range(40):  # two months, and files that fill up: both kinds of rotation
        log.append({"type": "run_end", "run_id": f"run-{i}", "result": "ok"}, now=T0 + timedelta(days=i))
    files = chain.log_files(log.primary)
    assert len(files) >= 3
    assert [p.name for p in chain.log_files(tmp_path / "sink2" / "audit.jsonl")] == [p.name for p in files]
    report = chain.verify(log.primary, tmp_path / "sink2" / "audit.jsonl")
    assert report.ok and report.records == 40 + len(files) - 1, [str(f) for f in report.findings]
    rotate = chain.parse(lines_of(files[-1])[0])[0]
    assert rotate["type"] == "rotate" and rotate["previous_file"] == files[-2].name
    assert rotate["prev_sha256"] == chain.line_sha256(lines_of(files[-2])[-1])
    months = {chain.parse(line)[0]["time"][:7] for line in lines_of(files[0])}
    assert len(months) == 1  # a file never spans a month boundary


def test_a_rotated_file_removed_without_a_prune_record_is_named(tmp_path):
    log = chain.Appender(tmp_path / "audit" / "audit.jsonl", [tmp_path / "sink2" / "audit.jsonl"], max_bytes=1500)
    for i in range(30):
        log.append({"type": "run_end", "run_id": f"run-{i}"}, now=T0 + timedelta(hours=i))
    files = chain.log_files(log.primary)
    gone = files[1]
    first_seq = chain.parse(lines_of(gone)[0])[0]["seq"]
    gone.unlink()
    found = chain.check_chain(chain.read_log(log.primary))
    assert found.kind == "removed" and found.file == str(files[2]) and found.line == 1, str(found)
    assert gone.name in found.detail and f"seq {first_seq}.." in found.detail


def test_retention_never_prunes_a_file_inside_180_days_even_when_configured_lower(tmp_path):
    log = chain.Appender(tmp_path / "audit" / "audit.jsonl", [tmp_path / "sink2" / "audit.jsonl"],
                         retention_days=30)
    assert log.retention_days == chain.MIN_RETENTION_DAYS
    times = {f"m{m}": datetime(2026, 1 + m, 15, tzinfo=UTC) for m in range(8)}  # Jan..Aug, one run a month
    for run_id, moment in list(times.items())[:6]:  # each month start rotates, and may prune
        log.append({"type": "run_end", "run_id": run_id}, now=moment)
    assert not [e for e in chain.read_log(log.primary) if e.record["type"] == "prune"]  # Jan 15 to Jun 15: 151 d
    now = times["m7"]
    log.append({"type": "run_end", "run_id": "m7"}, now=now)
    report = chain.verify(log.primary, tmp_path / "sink2" / "audit.jsonl")
    assert report.ok, [str(f) for f in report.findings]
    records = [e.record for e in chain.read_log(log.primary)]
    pruned = [r for r in records if r["type"] == "prune"]
    assert [r["file"][:14] for r in pruned] == ["audit-20260215", "audit-20260315"]  # January's and February's
    assert all(now - chain.parse_time(r["last_time"]) > timedelta(days=180) for r in pruned)
    kept = {r["run_id"] for r in records if r["type"] == "run_end"}
    assert kept >= {run_id for run_id, moment in times.items() if run_id != "m6" and now - moment <= timedelta(180)}
    assert [p.name for p in chain.log_files(tmp_path / "sink2" / "audit.jsonl")] == \
        [p.name for p in chain.log_files(log.primary)]


def test_the_default_retention_keeps_400_days(tmp_path):
    log = chain.Appender(tmp_path / "audit" / "audit.jsonl")
    assert log.retention_days == chain.DEFAULT_RETENTION_DAYS == 400
    for month in range(14):
        log.append({"type": "run_end"}, now=datetime(2025 + month // 12, 1 + month % 12, 10, tzinfo=UTC))
    now = datetime(2026, 2, 10, tzinfo=UTC)
    kept = [chain.parse_time(e.record["time"]) for e in chain.read_log(log.primary) if e.record["type"] == "run_end"]
    assert min(kept) <= now - timedelta(days=390)
    assert chain.verify(log.primary, None).ok


def test_an_unwritable_sink_raises_an_error_naming_it(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    log = chain.Appender(tmp_path / "audit" / "audit.jsonl", [blocker / "sink2" / "audit.jsonl"])
    with pytest.raises(chain.AuditSinkError, match="a-file/sink2"):
        log.probe()
    with pytest.raises(chain.AuditSinkError, match="a-file/sink2"):
        log.append({"type": "run_start"})


def test_parallel_appenders_never_fork_the_chain(tmp_path):
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(tmp_path, w)) for w in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    report = chain.verify(tmp_path / "audit" / "audit.jsonl", tmp_path / "sink2" / "audit.jsonl")
    assert report.ok and report.records == 4 * 25, [str(f) for f in report.findings]


def _append_many(tmp_path: Path, worker: int) -> None:
    log = chain.Appender(tmp_path / "audit" / "audit.jsonl", [tmp_path / "sink2" / "audit.jsonl"])
    for i in range(25):
        log.append({"type": "run_end", "run_id": f"w{worker}-{i}"})


def test_the_cli_names_the_tampered_line_and_exits_nonzero(tmp_path, log50, capsys):
    path, pristine = log50
    lines = list(pristine)
    del lines[16]
    write(path, lines)
    assert cli.main(["verify", "--log", str(path), "--sink2", str(tmp_path / "sink2" / "audit.jsonl")]) == 1
    out = capsys.readouterr().out
    assert f"TAMPERED primary: {path}:17 (seq 18): removed: record(s) seq 17 removed" in out
    write(path, pristine)
    assert cli.main(["verify", "--log", str(path), "--sink2", str(tmp_path / "sink2" / "audit.jsonl")]) == 0


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_any_text_that_is_not_a_sealed_record_is_refused_with_a_reason(text):
    record, why = chain.parse(text)
    assert record is None and why


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["type", "run_id", "note", "who", "result"]),
                       st.one_of(st.text(max_size=30), st.integers(), st.booleans(), st.none()), max_size=5))
def test_any_sealed_body_parses_back_unchanged(body):
    body = {"time": chain.iso(T0), "type": "x", **body}
    line = chain.seal(body, 7, "previous line")
    record, why = chain.parse(line)
    assert why == "" and {k: record[k] for k in body} == body
    assert record["prev_sha256"] == chain.line_sha256("previous line") and record["seq"] == 7
