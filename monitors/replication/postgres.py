"""Reading a PostgreSQL streaming pair: the primary's pg_stat_replication, the standby's pg_stat_wal_receiver,
and a heartbeat row written on the primary and read back on the standby.

Every probe UPDATEs the heartbeat row with now() on the primary (so WAL keeps flowing on an idle primary and
the lag columns stay meaningful), then reads that row on the standby: its age is how old the newest data
the standby has really is. A cut link cannot look like zero lag, because the age keeps growing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

LAG_KINDS = ("write", "flush", "replay")
APPLICATION_NAME = "jinbao-replication-exporter"

_REPLICATION = """
SELECT application_name, state,
       pg_wal_lsn_diff(pg_current_wal_lsn(), write_lsn),
       pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn),
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn),
       extract(epoch FROM write_lag), extract(epoch FROM flush_lag), extract(epoch FROM replay_lag)
  FROM pg_stat_replication
"""


class PostgresError(RuntimeError):
    """The primary cannot be read; the message names the server, the cause and the fix."""


@dataclass
class ReplicaRow:
    application_name: str
    state: str
    lag_bytes: dict[str, float | None]
    lag_seconds: dict[str, float | None]


@dataclass
class PairReading:
    replicas: list[ReplicaRow] = field(default_factory=list)  # the primary's view (filtered by application name)
    standby_up: bool = False
    standby_error: str = ""
    wal_receiver_status: str | None = None  # None: no WAL receiver running on the standby
    standby_heartbeat: float | None = None  # epoch of the heartbeat row the standby has


def _kwargs(dsn: str, role: str, passfile: str | None, timeout: float) -> dict:
    params = conninfo_to_dict(dsn)
    if "password" in params:
        raise PostgresError(f"{role}_dsn carries a password; remove it and put the credentials in a passfile "
                            "(`passfile:` in the target, .pgpass format, mode 0600)")
    budget = max(timeout, 1.0)
    kwargs: dict = {"conninfo": dsn, "autocommit": True, "application_name": APPLICATION_NAME,
                    # libpq waits at least 2 s; spend at most a third of the probe budget per connection.
                    "connect_timeout": max(2, int(budget / 3)),
                    "options": f"-c statement_timeout={max(200, int(budget * 1000 / 4))}"}
    if passfile:
        kwargs["passfile"] = passfile
    return kwargs


def _where(dsn: str) -> str:
    p = conninfo_to_dict(dsn)
    return f"{p.get('host', 'localhost')}:{p.get('port', '5432')}/{p.get('dbname', '')}"


def _table(name: str) -> sql.Composable:
    return sql.Identifier(*name.split("."))


def read_pair(spec: dict, timeout: float, connect: Callable[..., psycopg.Connection] = psycopg.connect) -> PairReading:
    """Write the heartbeat and read replication state from the primary (PostgresError if that fails), then
    read the standby (a failure there is recorded in the reading, not raised)."""
    table, row_id = spec.get("heartbeat_table", "jinbao_heartbeat"), int(spec.get("heartbeat_id", 1))
    passfile = spec.get("passfile")
    reading = PairReading()
    where = _where(spec["primary_dsn"])
    try:
        with connect(**_kwargs(spec["primary_dsn"], "primary", passfile, timeout)) as conn:
            if conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                raise PostgresError(f"primary {where} is in recovery (a standby): after a failover, swap "
                                    "primary_dsn and standby_dsn in the config")
            written = conn.execute(
                sql.SQL("INSERT INTO {} (id, ts) VALUES (%s, now()) ON CONFLICT (id) DO UPDATE SET ts = "
                        "excluded.ts RETURNING extract(epoch FROM ts)").format(_table(table)), (row_id,)
            ).fetchone()[0]
            rows = conn.execute(_REPLICATION).fetchall()
    except PostgresError:
        raise
    except psycopg.Error as exc:
        raise PostgresError(f"primary {where}: {_short(exc)}; check that it runs, the DSN and the passfile, and "
                            f"that the role may write {table}") from None
    wanted = spec.get("standby_application_name")
    for name, state, *lags in rows:
        if wanted and name != wanted:
            continue
        reading.replicas.append(ReplicaRow(
            application_name=name or "", state=state or "",
            lag_bytes={k: _num(v) for k, v in zip(LAG_KINDS, lags[:3], strict=True)},
            lag_seconds={k: _num(v) for k, v in zip(LAG_KINDS, lags[3:], strict=True)}))
    _read_standby(spec, timeout, connect, reading, table, row_id, float(written))
    return reading


def _read_standby(spec: dict, timeout: float, connect: Callable[..., psycopg.Connection], reading: PairReading,
                  table: str, row_id: int, written: float) -> None:
    query = sql.SQL("SELECT extract(epoch FROM ts) FROM {} WHERE id = %s").format(_table(table))
    wait = float(spec.get("heartbeat_wait_seconds", 1))
    try:
        with connect(**_kwargs(spec["standby_dsn"], "standby", spec.get("passfile"), timeout)) as conn:
            row = conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()
            reading.wal_receiver_status = row[0] if row else None
            deadline = time.monotonic() + wait
            while True:  # give a streaming standby a moment to replay the heartbeat just written
                got = conn.execute(query, (row_id,)).fetchone()
                reading.standby_heartbeat = float(got[0]) if got and got[0] is not None else None
                if (reading.standby_heartbeat or 0) >= written or reading.wal_receiver_status != "streaming" \
                        or time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
            reading.standby_up = True
    except psycopg.Error as exc:
        reading.standby_up = False
        reading.standby_error = f"standby {_where(spec['standby_dsn'])}: {_short(exc)}"


def _num(value) -> float | None:
    return None if value is None else float(value)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
