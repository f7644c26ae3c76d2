"""The Vault (OpenBao) raft snapshot agent: the pre-backup hook of a site's Vault snapshot job, and its restore test.

    python -m monitors.backup.raft_snapshot --vault URL [--vault URL ...] --ca-file CA --cert CRT --key KEY \\
        --role vault-snapshot --dest /srv/backup/sources/vault-raft/raft.snap
    python -m monitors.backup.raft_snapshot verify PATH

`take` logs in with the agent's service certificate (auth/cert, its own role, whose policy reads only
sys/storage/raft/snapshot), trying each cluster address in turn: any node answers, a standby by forwarding to the
leader, and a dead or sealed node is skipped with one line; when none answers (a leader election under way), every
node is tried once more after --retry-wait seconds. The snapshot is streamed to `<dest>.tmp`, checked
(`verify`), fsynced and renamed to `<dest>`; then the token is revoked. The backup tool (restic) runs only when
this exits 0, so a failed snapshot never leaves a stale file to be backed up as if it were new.

`verify` is the restore test: OpenBao's snapshot is a gzip'd tar of meta.json, state.bin and SHA256SUMS (sha256
and name per line); every member must be there and every checksum must match.

Exit codes: 0 done (one line on stdout), 1 failed (one line on stderr naming the node and the step), 2 bad
arguments. No token is ever printed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tarfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REQUIRED = ("meta.json", "state.bin", "SHA256SUMS")
CHUNK = 1 << 20


class SnapshotError(Exception):
    """A snapshot could not be taken or is not valid; the message is the one line for the person on call."""


# --- the restore test ---------------------------------------------------------------------------------------
def verify(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Check a raft snapshot file: a gzip'd tar holding meta.json, state.bin and SHA256SUMS, every checksum in
    SHA256SUMS matching its member. Returns {index, term, bytes}; SnapshotError (naming the file) otherwise."""
    path = Path(path)
    digests: dict[str, str] = {}
    sums_text, meta_bytes = None, None
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                fh = tar.extractfile(member)
                digest = hashlib.sha256()
                data = bytearray()
                for chunk in iter(lambda fh=fh: fh.read(CHUNK), b""):
                    digest.update(chunk)
                    if member.name in ("SHA256SUMS", "meta.json") and len(data) < CHUNK:
                        data += chunk
                digests[member.name] = digest.hexdigest()
                if member.name == "SHA256SUMS":
                    sums_text = data.decode("ascii", errors="replace")
                elif member.name == "meta.json":
                    meta_bytes = bytes(data)
    except FileNotFoundError:
        raise SnapshotError(f"{path}: no such file") from None
    except (tarfile.TarError, OSError, EOFError) as exc:  # not gzip, not a tar, or cut short
        raise SnapshotError(f"{path}: not a raft snapshot (a gzip'd tar): {exc}") from None
    missing = [name for name in REQUIRED if name not in digests]
    if missing:
        raise SnapshotError(f"{path}: corrupt snapshot: {', '.join(missing)} missing")
    listed: dict[str, str] = {}
    for line in (sums_text or "").splitlines():
        parts = line.split()
        if len(parts) == 2:
            listed[parts[1].lstrip("*")] = parts[0].lower()
    for name in ("meta.json", "state.bin"):
        if name not in listed:
            raise SnapshotError(f"{path}: corrupt snapshot: SHA256SUMS does not list {name}")
    for name, want in sorted(listed.items()):
        if digests.get(name) != want:
            raise SnapshotError(f"{path}: corrupt snapshot: {name}: "
                                + ("listed in SHA256SUMS but missing" if name not in digests else "checksum mismatch"))
    try:
        meta = json.loads(meta_bytes or b"")
    except ValueError:
        raise SnapshotError(f"{path}: corrupt snapshot: meta.json is not JSON") from None
    meta = meta if isinstance(meta, dict) else {}
    return {"index": meta.get("Index"), "term": meta.get("Term"), "bytes": path.stat().st_size}


# --- taking one ---------------------------------------------------------------------------------------------
def _hvac_client(url: str, ca_file: str, cert: str, key: str, timeout: float) -> Any:
    try:
        import hvac
    except ImportError:
        raise SnapshotError("the raft snapshot agent needs hvac: "
                            "pip install 'jinbao-monitors[vault-snapshot]'") from None
    return hvac.Client(url=url, cert=(cert, key), verify=ca_file, timeout=timeout)


def _why(exc: BaseException) -> tuple[str, bool]:
    """(one-line reason, whether another node may do better) for an error of a Vault request."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    text = " ".join(str(exc).split())[:200] or type(exc).__name__
    name = type(exc).__name__
    if name in ("ConnectionError", "ConnectTimeout", "ReadTimeout", "Timeout", "ChunkedEncodingError", "SSLError"):
        return f"unreachable ({text})", True
    if name == "VaultDown" or status == 503:
        return f"sealed or without a leader (503: {text})", True
    if name == "Forbidden" or status == 403:
        return f"permission denied (403: {text}); check the vault-snapshot cert role and its policy", False
    if name in ("InternalServerError", "BadGateway", "UnexpectedError") or (status or 0) >= 500:
        return f"server error ({text})", True
    if name == "InvalidRequest" or status == 400:
        return f"refused (400: {text}); check the certificate and the role", False
    return f"{name}: {text}", False


def take(addresses: Sequence[str], ca_file: str, cert: str, key: str, role: str, dest: str | os.PathLike[str],
         *, timeout: float = 60.0, rounds: int = 2, retry_wait: float = 5.0,
         log: Callable[[str], None] = lambda _line: None, client_factory: Callable[..., Any] | None = None,
         sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Take a raft snapshot from the first node that gives one, into `dest` (checked, fsynced, renamed), trying
    every node up to `rounds` times. Returns {node, index, term, bytes}; SnapshotError with one line naming the
    node and the step otherwise."""
    for attempt in range(1, max(rounds, 1) + 1):
        try:
            return _take_once(addresses, ca_file, cert, key, role, Path(dest), timeout, log,
                              client_factory or _hvac_client)
        except _EveryNodeFailed as exc:
            if attempt >= rounds:
                raise SnapshotError(str(exc)) from None
            log(f"{exc}; trying every node again in {retry_wait:g}s")
            sleep(retry_wait)
    raise AssertionError("unreachable")  # pragma: no cover


class _EveryNodeFailed(SnapshotError):
    """No node answered, each for a reason another attempt may not have (unreachable, sealed, no leader)."""


def _take_once(addresses: Sequence[str], ca_file: str, cert: str, key: str, role: str, dest: Path, timeout: float,
               log: Callable[[str], None], factory: Callable[..., Any]) -> dict[str, Any]:
    if not addresses:
        raise SnapshotError("no Vault address given (--vault URL, once per cluster node)")
    for what, path in (("--cert", cert), ("--key", key), ("--ca-file", ca_file)):
        if not Path(path).is_file():
            raise SnapshotError(f"{what}: {path} does not exist; the agent's certificate comes from "
                                "playbooks/service_certs.yml (jinbao_services: vault-snapshot)")
    tmp = dest.with_name(dest.name + ".tmp")
    failures: list[str] = []
    for url in addresses:
        step = "login"
        client = None
        logged_in = False
        try:
            client = factory(url, ca_file, cert, key, timeout)
            client.auth.cert.login(name=role, cert_pem=cert, key_pem=key)
            logged_in = True
            step = "snapshot"
            response = client.sys.take_raft_snapshot()
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    for chunk in response.iter_content(chunk_size=CHUNK):
                        fh.write(chunk)
                    fh.flush()
                    os.fsync(fh.fileno())
            finally:
                response.close()
            step = "verify"
            summary = verify(tmp)
            os.replace(tmp, dest)
            dir_fd = os.open(dest.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
            return {"node": url, **summary}
        except SnapshotError as exc:  # the snapshot itself is bad: another node's would be the same data
            _discard(tmp)
            raise SnapshotError(f"vault {url}: {step}: {exc}") from None
        except Exception as exc:  # hvac and requests errors, mapped to one line
            if isinstance(exc, OSError) and not type(exc).__module__.startswith(("requests", "urllib3", "hvac")):
                _discard(tmp)  # our own disk, not the node: no other node would help
                raise SnapshotError(f"vault {url}: write: {tmp}: {exc.strerror or exc}") from None
            reason, next_node = _why(exc)
        finally:
            if logged_in:
                _revoke(client, url, log)
        _discard(tmp)
        line = f"vault {url}: {step}: {reason}"
        if not next_node:
            raise SnapshotError(line)
        failures.append(line)
        if url != addresses[-1]:
            log(f"{line}; trying the next node")
    raise _EveryNodeFailed(f"no node gave a snapshot: {'; '.join(failures)}")


def _revoke(client: Any, url: str, log: Callable[[str], None]) -> None:
    try:
        client.auth.token.revoke_self()
    except Exception as exc:  # a token left behind expires with its short TTL
        log(f"vault {url}: revoke-self: {_why(exc)[0]} (the token expires with its TTL)")


def _discard(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


# --- command line -------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["verify"]:
        if len(argv) != 2:
            print("usage: python -m monitors.backup.raft_snapshot verify PATH", file=sys.stderr)
            return 2
        try:
            summary = verify(argv[1])
        except SnapshotError as exc:
            print(f"raft snapshot verify: {exc}", file=sys.stderr)
            return 1
        print(f"{argv[1]}: valid raft snapshot (index {summary['index']}, term {summary['term']}, "
              f"{summary['bytes']} bytes)")
        return 0
    parser = argparse.ArgumentParser(prog="python -m monitors.backup.raft_snapshot",
                                     description="Take a Vault raft snapshot with the agent's certificate "
                                                 "(or: verify PATH).")
    parser.add_argument("--vault", action="append", required=True, metavar="URL",
                        help="a cluster node's API address; give every node, they are tried in turn")
    parser.add_argument("--ca-file", required=True, help="the CA that verifies Vault's TLS certificate")
    parser.add_argument("--cert", required=True, help="the agent's client certificate (PEM)")
    parser.add_argument("--key", required=True, help="the agent's private key (PEM)")
    parser.add_argument("--role", default="vault-snapshot", help="the auth/cert role (default: vault-snapshot)")
    parser.add_argument("--dest", required=True, help="the snapshot file to write (via DEST.tmp)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per Vault request (default 60)")
    parser.add_argument("--retry-wait", type=float, default=5.0,
                        help="when no node answers, seconds before every node is tried once more (default 5)")
    args = parser.parse_args(argv)

    def log(line: str) -> None:
        print(f"raft snapshot: {line}", file=sys.stderr, flush=True)

    try:
        done = take(args.vault, args.ca_file, args.cert, args.key, args.role, args.dest, timeout=args.timeout,
                    retry_wait=args.retry_wait, log=log)
    except SnapshotError as exc:
        print(f"raft snapshot failed: {exc}", file=sys.stderr)
        return 1
    print(f"{args.dest}: raft snapshot from {done['node']} (index {done['index']}, term {done['term']}, "
          f"{done['bytes']} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
