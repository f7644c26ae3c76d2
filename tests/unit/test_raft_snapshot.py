"""The Vault raft snapshot agent (monitors/backup/raft_snapshot.py): the snapshot check that is the restore test, and
taking a snapshot from whichever node of the cluster answers, against fake Vault clients."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from types import SimpleNamespace

import hvac.exceptions
import pytest
import requests

from monitors.backup import raft_snapshot
from monitors.backup.raft_snapshot import SnapshotError, take, verify

TOKEN = "s.fake-token-never-printed"
NODES = ["https://127.0.0.1:18200", "https://127.0.0.1:18210", "https://127.0.0.1:18220"]


def snapshot_bytes(members: dict[str, bytes] | None = None, sums: str | None = None,
                   skip: tuple[str, ...] = ()) -> bytes:
    """An OpenBao-style snapshot: gzip'd tar of meta.json, state.bin and SHA256SUMS (`sums` replaces the real one)."""
    members = members or {"meta.json": json.dumps({"Index": 42, "Term": 3}).encode(), "state.bin": b"\x00raft" * 500}
    if sums is None:
        sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in members.items())
    files = {**members, "SHA256SUMS": sums.encode()}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            if name in skip:
                continue
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_a_good_snapshot_verifies(tmp_path: Path) -> None:
    path = tmp_path / "raft.snap"
    path.write_bytes(snapshot_bytes())
    assert verify(path) == {"index": 42, "term": 3, "bytes": path.stat().st_size}


def test_a_snapshot_without_sha256sums_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "raft.snap"
    path.write_bytes(snapshot_bytes(skip=("SHA256SUMS",)))
    with pytest.raises(SnapshotError, match="corrupt snapshot: SHA256SUMS missing"):
        verify(path)


def test_a_checksum_that_does_not_match_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "raft.snap"
    path.write_bytes(snapshot_bytes(sums=f"{'0' * 64}  meta.json\n{'1' * 64}  state.bin\n"))
    with pytest.raises(SnapshotError, match=r"corrupt snapshot: meta.json: checksum mismatch"):
        verify(path)


def test_a_state_bin_left_out_of_sha256sums_is_corrupt(tmp_path: Path) -> None:
    meta = json.dumps({"Index": 1}).encode()
    path = tmp_path / "raft.snap"
    path.write_bytes(snapshot_bytes(sums=f"{hashlib.sha256(meta).hexdigest()}  meta.json\n",
                                    members={"meta.json": meta, "state.bin": b"x"}))
    with pytest.raises(SnapshotError, match=r"SHA256SUMS does not list state\.bin"):
        verify(path)


def test_a_file_that_is_not_gzip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "raft.snap"
    path.write_bytes(b"this is not a snapshot\n" * 10)
    with pytest.raises(SnapshotError, match="not a raft snapshot"):
        verify(path)


def test_a_snapshot_cut_short_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "raft.snap"
    path.write_bytes(snapshot_bytes()[:-40])
    with pytest.raises(SnapshotError, match="not a raft snapshot"):
        verify(path)


# --- taking one, against fake clients ------------------------------------------------------------------------
class FakeVault:
    """One fake client per node: `errors` maps a URL to (step, exception) where that node fails."""

    def __init__(self, payload: bytes, errors: dict[str, tuple[str, Exception]] | None = None,
                 failures: int = 1000) -> None:
        self.payload, self.errors, self.failures = payload, errors or {}, failures  # each node fails `failures` times
        self.calls: list[tuple[str, str]] = []

    def __call__(self, url: str, ca_file: str, cert: str, key: str, timeout: float) -> SimpleNamespace:
        def step(name: str):
            self.calls.append((url, name))
            failing = self.errors.get(url)
            if failing and failing[0] == name and self.calls.count((url, name)) <= self.failures:
                raise failing[1]

        def login(**kwargs):
            step("login")
            return {"auth": {"client_token": TOKEN}}

        def snapshot():
            step("snapshot")
            payload = self.payload
            return SimpleNamespace(iter_content=lambda chunk_size: iter([payload[:100], payload[100:]]),
                                   close=lambda: None)

        return SimpleNamespace(auth=SimpleNamespace(cert=SimpleNamespace(login=login),
                                                    token=SimpleNamespace(revoke_self=lambda: step("revoke"))),
                               sys=SimpleNamespace(take_raft_snapshot=snapshot))


@pytest.fixture
def files(tmp_path: Path) -> dict:
    for name in ("ca.crt", "agent.crt", "agent.key"):
        (tmp_path / name).write_text("PEM\n")
    return {"ca_file": str(tmp_path / "ca.crt"), "cert": str(tmp_path / "agent.crt"),
            "key": str(tmp_path / "agent.key"), "role": "vault-snapshot", "dest": tmp_path / "raft.snap"}


def run(vault: FakeVault, files: dict, lines: list[str], nodes: list[str] = NODES, waits: list | None = None) -> dict:
    return take(nodes, files["ca_file"], files["cert"], files["key"], files["role"], files["dest"], log=lines.append,
                client_factory=vault, sleep=(waits if waits is not None else []).append)


def test_a_dead_node_is_skipped_with_one_line_and_the_next_gives_the_snapshot(files: dict) -> None:
    vault = FakeVault(snapshot_bytes(), {NODES[0]: ("login", requests.exceptions.ConnectionError("refused"))})
    lines: list[str] = []
    done = run(vault, files, lines)
    assert done["node"] == NODES[1] and done["index"] == 42
    assert lines == [f"vault {NODES[0]}: login: unreachable (refused); trying the next node"]
    assert verify(files["dest"])["term"] == 3
    assert (NODES[1], "revoke") in vault.calls  # the token is revoked once the snapshot is safe
    assert not Path(str(files["dest"]) + ".tmp").exists()


def test_a_sealed_node_is_skipped(files: dict) -> None:
    vault = FakeVault(snapshot_bytes(), {NODES[0]: ("login", hvac.exceptions.VaultDown("Vault is sealed"))})
    lines: list[str] = []
    assert run(vault, files, lines)["node"] == NODES[1]
    assert "sealed" in lines[0] and NODES[0] in lines[0]


def test_a_refused_read_stops_at_once_naming_the_node_and_step(files: dict) -> None:
    vault = FakeVault(snapshot_bytes(), {NODES[0]: ("snapshot", hvac.exceptions.Forbidden("permission denied"))})
    with pytest.raises(SnapshotError, match=rf"vault {NODES[0]}: snapshot: permission denied \(403") as caught:
        run(vault, files, [])
    assert [url for url, _ in vault.calls if url != NODES[0]] == []  # a 403 is the same on every node
    assert (NODES[0], "revoke") in vault.calls
    assert not files["dest"].exists()
    assert TOKEN not in str(caught.value)


def test_every_node_down_is_one_line_naming_each_node(files: dict) -> None:
    down = requests.exceptions.ConnectionError("connection refused")
    vault = FakeVault(snapshot_bytes(), {url: ("login", down) for url in NODES})
    lines: list[str] = []
    waits: list[float] = []
    with pytest.raises(SnapshotError) as caught:
        run(vault, files, lines, waits=waits)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("no node gave a snapshot: ")
    assert all(f"vault {url}: login: unreachable" in message for url in NODES)
    assert waits == [5.0] and len(vault.calls) == 2 * len(NODES)  # every node once more, after one wait
    assert len(lines) == 5  # a line per skipped node and one for the second round; the last one is in the error
    assert not files["dest"].exists()


def test_a_leader_election_is_waited_out_and_the_second_round_gives_the_snapshot(files: dict) -> None:
    no_leader = hvac.exceptions.VaultDown("no active leader")
    vault = FakeVault(snapshot_bytes(), {url: ("snapshot", no_leader) for url in NODES}, failures=1)
    waits: list[float] = []
    assert run(vault, files, [], waits=waits)["node"] == NODES[0]
    assert waits == [5.0]
    assert vault.calls.count((NODES[0], "revoke")) == 2  # every token it got was revoked, the failed rounds' too


def test_a_corrupt_snapshot_keeps_the_previous_file_and_leaves_no_temporary(files: dict) -> None:
    files["dest"].write_bytes(b"previous snapshot")
    vault = FakeVault(snapshot_bytes(sums=f"{'0' * 64}  meta.json\n{'0' * 64}  state.bin\n"))
    with pytest.raises(SnapshotError, match=rf"vault {NODES[0]}: verify: .*checksum mismatch"):
        run(vault, files, [])
    assert files["dest"].read_bytes() == b"previous snapshot"
    assert not Path(str(files["dest"]) + ".tmp").exists()


def test_a_missing_certificate_is_named_before_any_node_is_asked(files: dict) -> None:
    Path(files["cert"]).unlink()
    vault = FakeVault(snapshot_bytes())
    with pytest.raises(SnapshotError, match=r"--cert: .* does not exist; .*service_certs\.yml"):
        run(vault, files, [])
    assert vault.calls == []


def test_the_command_line_prints_one_line_and_never_the_token(files: dict, monkeypatch, capsys) -> None:
    vault = FakeVault(snapshot_bytes(), {NODES[0]: ("login", requests.exceptions.ConnectionError("refused"))})
    monkeypatch.setattr(raft_snapshot, "_hvac_client", vault)
    args = [a for url in NODES for a in ("--vault", url)] + [
        "--ca-file", files["ca_file"], "--cert", files["cert"], "--key", files["key"], "--dest", str(files["dest"])]
    assert raft_snapshot.main(args) == 0
    out = capsys.readouterr()
    assert out.out.count("\n") == 1 and f"from {NODES[1]}" in out.out
    assert TOKEN not in out.out + out.err
    assert raft_snapshot.main(["verify", str(files["dest"])]) == 0
    files["dest"].write_bytes(b"garbage")
    assert raft_snapshot.main(["verify", str(files["dest"])]) == 1
    assert "not a raft snapshot" in capsys.readouterr().err
