"""The run's operator session: the Vault token that the operator's certificate obtained, in memory only.

The audit callback (plugins/callback/audit_log.py) opens the session in the ansible-playbook process before the
first task: an anonymous shared memory mapping, which the worker processes Ansible forks for each task inherit.
The cert gate (plugins/action/operator_gate.py, in a worker) writes the session into it once it has admitted the
operator; the credential lookup (jinbao.dc.credential) and jinbao.dc.vault_token read it in later tasks'
workers; the callback revokes the token when the run ends. It is not a file, not a variable and not an
environment variable: -e, group_vars, --start-at-task or a playbook of one's own cannot supply one, and a module
process (exec'd) does not inherit the mapping.

The audit run (run_id, the official sinks, whether the callback's configuration is the official one) is kept
beside it by the callback, so the gate can refuse a run that the official audit trail does not record.
"""

from __future__ import annotations

import json
import mmap
import os
from typing import Any

SIZE = 8192

_RUN: dict[str, Any] | None = None
_SHM: mmap.mmap | None = None


def open_run(run: dict[str, Any]) -> None:
    """Called once by the audit callback in the ansible-playbook process, before any worker forks."""
    global _RUN, _SHM
    _RUN = dict(run, pid=os.getpid())
    if _SHM is None:
        _SHM = mmap.mmap(-1, SIZE, flags=mmap.MAP_SHARED | getattr(mmap, "MAP_ANONYMOUS", 0x20))
    _write({})


def audit_run() -> dict[str, Any] | None:
    """The audit run, as the callback opened it in this process tree; None when the callback is not loaded."""
    return dict(_RUN) if _RUN is not None else None


def _write(data: dict[str, Any]) -> None:
    if _SHM is None:
        raise RuntimeError("no operator session: the audit trail (jinbao.dc.audit_log) did not open this run")
    raw = json.dumps(data, separators=(",", ":")).encode()
    if len(raw) >= SIZE:
        raise RuntimeError(f"the operator session is full ({len(raw)} bytes)")
    _SHM.seek(0)
    _SHM.write(raw + b"\0" * (SIZE - len(raw)))


def _read() -> dict[str, Any]:
    if _SHM is None:
        return {}
    raw = _SHM[:SIZE].split(b"\0", 1)[0]
    return json.loads(raw) if raw else {}


def put(session: dict[str, Any]) -> None:
    """The gate's admitted session (token, accessor, operator, CN, serial, duty, Vault URL and CA)."""
    _write({"session": session})


def approve(path: str, data: dict[str, Any]) -> None:
    """Keep a credential released by a two-person approval (jinbao.dc.two_person) for this run's later tasks."""
    state = _read()
    if not state.get("session"):
        raise RuntimeError("no operator session: an approved credential belongs to an admitted run")
    state.setdefault("approved", {})[path] = data
    _write(state)


def approved(path: str) -> dict[str, Any] | None:
    """A credential this run obtained by a two-person approval, or None."""
    return (_read().get("approved") or {}).get(path)


def get() -> dict[str, Any] | None:
    """This run's session, or None: no gate admitted an operator in this run (or it was closed)."""
    return _read().get("session")


def close() -> dict[str, Any] | None:
    """End the session (the callback, at the end of the run): wipes it and returns what it held."""
    held = get()
    if _SHM is not None:
        _write({})
    return held
