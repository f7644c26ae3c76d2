"""labctl service `postgres`: a real PostgreSQL 15 primary and its streaming standby (Debian's postgresql-15).

A host with `postgres_port` is a primary; a host that also names `postgres_primary` is a streaming standby
of that host. The server refuses to run as root and runs as the `postgres` OS user, who may not reach the
clone (root's home, `mktemp -d`), so its data dir is in the lab's runtime dir (lab/common.py),
/var/lib/jinbao-lab/<hash>/data/<host>/: the cluster in pgdata/ (owned by postgres, mode 0700), its unix
socket inside pgdata/, the standby's replication passfile beside it; TCP on 127.0.0.1 only.

Primary, at first start: initdb, the lab settings (lab.conf, included from postgresql.conf), pg_hba with
scram-sha-256 on 127.0.0.1 and peer (root and postgres mapped to the superuser) on the socket. Seeded at
every start (idempotent): the replication role `replicator`, the exporter's role `jinbao_monitor` (pg_monitor
plus write access to the heartbeat table only), the sample database `basic_info` with `persons` and the
heartbeat table `jinbao_heartbeat(id int primary key, ts timestamptz)`. Passwords come from
lab.secret() and reach the server as SCRAM verifiers (never in clear text in a statement or a log).
The exporter's credentials are in .lab/secrets/pg-monitor.pgpass (a libpq passfile, mode 0600).

Standby, at first start: pg_basebackup -R from the primary (which it starts first, through this class,
because labctl starts hosts in name order and pg-dr-01 sorts before pg-prod-01), then it streams.
Its primary_conninfo lives in lab.conf; the fault `stop-wal-receiver` overrides it with '' through
ALTER SYSTEM (the WAL receiver really stops), `start-wal-receiver` resets the override.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

from lab import common

PG_BIN = Path("/usr/lib/postgresql/15/bin")
OS_USER = "postgres"
REPLICATION_ROLE = "replicator"
MONITOR_ROLE = "jinbao_monitor"
SAMPLE_DB = "basic_info"
HEARTBEAT_TABLE = "jinbao_heartbeat"
MONITOR_PASSFILE = "pg-monitor.pgpass"


def _as_postgres() -> list[str]:
    """The prefix that runs a command as the postgres OS user (setpriv execs, so the pid stays the server's)."""
    return ["/usr/bin/setpriv", f"--reuid={OS_USER}", f"--regid={OS_USER}", "--init-groups", "--"]


def _os_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(OS_USER)
    except KeyError:
        raise common.LabError(f"there is no {OS_USER!r} OS user; install the postgresql package "
                              "(lab/packages.apt)") from None


class Service(common.Service):
    kind = "postgres"
    start_timeout = 90.0
    runs_as = OS_USER
    stop_signal = signal.SIGINT  # fast shutdown: smart shutdown (SIGTERM) would wait for the exporter's sessions

    def __init__(self, name: str, hostvars: dict, lab: common.Lab) -> None:
        super().__init__(name, hostvars, lab)
        self.address = str(hostvars.get("postgres_listen_address", "127.0.0.1"))
        common.require_loopback(name, self.address)
        try:
            self.port = int(hostvars["postgres_port"])
        except (KeyError, TypeError, ValueError):
            raise common.LabError(f"{name}: postgres_port: missing or not a number in inventory/lab "
                                  f"host_vars/{name}.yml") from None
        self.primary_name = hostvars.get("postgres_primary") or None
        self.pgdata = self.data_dir / "pgdata"
        self.repl_passfile = self.data_dir / "replicator.pgpass"
        if self.primary_name:
            self.actions = {
                "stop-wal-receiver": "cut the stream: primary_conninfo='' (ALTER SYSTEM) and reload",
                "start-wal-receiver": "restore the stream: reset primary_conninfo to lab.conf's and reload",
            }
        else:
            self.actions = {"write-load": "N: insert N sample rows into basic_info.persons (default 100)"}

    # --- labctl hooks -------------------------------------------------------------------------------
    def build(self) -> None:
        for tool in ("postgres", "initdb", "pg_basebackup"):
            if not (PG_BIN / tool).exists():
                raise common.LabError(f"{self.name}: {PG_BIN / tool} is missing; install postgresql-15 "
                                      "(lab/packages.apt)")
        _os_user()

    def command(self) -> list[str]:
        return [*_as_postgres(), str(PG_BIN / "postgres"), "-D", str(self.pgdata)]

    def pid(self) -> int | None:
        """The postmaster's pid, when our pid file and the cluster's postmaster.pid agree and it is alive."""
        try:
            pid = int(self.pid_file.read_text().strip())
            postmaster = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        if pid != postmaster or not Path(f"/proc/{pid}").exists() or common._is_zombie(pid):
            return None
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            return None
        return pid if os.path.basename(exe) == "postgres" else None

    def start(self) -> str:
        if self.primary_name:
            self._primary().start()  # labctl starts pg-dr-01 first; the standby needs its primary
        return super().start()

    def stop(self) -> str:
        """Fast shutdown (SIGINT): smart shutdown (SIGTERM) would wait for the exporter's sessions."""
        pid = self.pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            for _ in range(100):
                if not Path(f"/proc/{pid}").exists() or common._is_zombie(pid):
                    break
                time.sleep(0.1)
        result = super().stop()
        return "stopped" if pid is not None else result

    def prepare(self) -> None:
        user = _os_user()
        fresh = not (self.pgdata / "PG_VERSION").exists()
        if fresh:
            if self.pgdata.exists():  # a half-made cluster from an interrupted first start
                subprocess.run(["rm", "-rf", "--", str(self.pgdata)], check=True)
            self.pgdata.mkdir(mode=0o700)
            os.chown(self.pgdata, user.pw_uid, user.pw_gid)
        if self.primary_name:
            self._write_repl_passfile(user)
            if fresh:
                self._basebackup()
        elif fresh:
            self._run_as_postgres([str(PG_BIN / "initdb"), "-D", str(self.pgdata), "-U", OS_USER,
                                   "--auth-local=peer", "--auth-host=scram-sha-256", "-E", "UTF8",
                                   "--locale=C.UTF-8"], "initdb")
            with open(self.pgdata / "postgresql.conf", "a") as fh:
                fh.write("\n# jinbao-dc lab: settings written by lab/postgres/service.py at every start\n"
                         "include 'lab.conf'\n")
        self._write_owned(self.pgdata / "lab.conf", self._lab_conf(), user)
        if not self.primary_name:
            self._write_owned(self.pgdata / "pg_hba.conf", self._hba(), user)
            self._write_owned(self.pgdata / "pg_ident.conf", f"lab root {OS_USER}\nlab {OS_USER} {OS_USER}\n", user)

    def health(self) -> tuple[bool, str]:
        if not common.port_open(self.address, self.port):
            return False, f"nothing listens on {self.address}:{self.port}"
        try:
            with self._connect("postgres") as conn:
                standby = conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
                if not standby:
                    return True, f"{self.address}:{self.port} primary"
                row = conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()
        except Exception as exc:
            return False, f"{self.address}:{self.port}: {type(exc).__name__}: {exc}".strip()
        return True, f"{self.address}:{self.port} standby of {self.primary_name}, wal receiver " + (
            row[0] if row else "stopped")

    def after_start(self) -> None:
        if not self.primary_name:
            self._seed_primary()

    def act(self, action: str, args: list[str]) -> str:
        if action == "stop-wal-receiver" and self.primary_name:
            self._set_conninfo_override(True)
            return "primary_conninfo set to '' and reloaded: the WAL receiver is stopped"
        if action == "start-wal-receiver" and self.primary_name:
            self._set_conninfo_override(False)
            return "primary_conninfo reset to lab.conf's and reloaded: the WAL receiver reconnects"
        if action == "write-load" and not self.primary_name:
            try:
                rows = int(args[0]) if args else 100
            except ValueError:
                raise common.LabError(f"{self.name}: write-load N: N must be a number, got {args[0]!r}") from None
            with self._connect(SAMPLE_DB) as conn:
                conn.execute("INSERT INTO persons (name, payload) SELECT 'sample-' || g, repeat('x', 200) "
                             "FROM generate_series(1, %s) AS g", (rows,))
            return f"inserted {rows} rows into {SAMPLE_DB}.persons"
        return super().act(action, args)

    # --- helpers ----------------------------------------------------------------------------------------
    def _primary(self) -> Service:
        if getattr(self, "_primary_service", None) is not None:
            return self._primary_service
        inventory = common.load_inventory(common.ROOT / "inventory" / "lab")
        hostvars = inventory.get("_meta", {}).get("hostvars", {}).get(self.primary_name)
        if not hostvars or hostvars.get("lab_service") != self.kind:
            raise common.LabError(f"{self.name}: postgres_primary {self.primary_name!r} is not a postgres lab host "
                                  f"in inventory/lab; fix host_vars/{self.name}.yml")
        self._primary_service = Service(self.primary_name, hostvars, self.lab)
        return self._primary_service

    def _connect(self, dbname: str):
        import psycopg

        # The socket lives in pgdata (mode 0700): only root and postgres reach it; peer auth maps root.
        return psycopg.connect(host=str(self.pgdata), port=self.port, user=OS_USER, dbname=dbname,
                               connect_timeout=5, autocommit=True)

    def _lab_conf(self) -> str:
        lines = [
            "# Written by lab/postgres/service.py at every start; the port comes from inventory/lab.",
            f"listen_addresses = '{self.address}'",
            f"port = {self.port}",
            f"unix_socket_directories = '{self.pgdata}'",
            f"cluster_name = '{self.name}'",
            "wal_level = replica",
            "max_wal_senders = 5",
            "wal_keep_size = '256MB'",
            "hot_standby = on",
            "shared_buffers = '32MB'",
            "max_connections = 40",
            "password_encryption = 'scram-sha-256'",
            "logging_collector = off",
            "log_connections = off",
        ]
        if self.primary_name:
            primary = self._primary_port()
            lines.append(f"primary_conninfo = 'host={self.address} port={primary} user={REPLICATION_ROLE} "
                         f"passfile={self.repl_passfile} application_name={self.name} connect_timeout=5'")
        return "\n".join(lines) + "\n"

    def _primary_port(self) -> int:
        return self._primary().port

    def _hba(self) -> str:
        return ("# Written by lab/postgres/service.py at every start. TCP on loopback only, scram-sha-256.\n"
                f"local   all          {OS_USER}     peer map=lab\n"
                "local   all          all          reject\n"
                f"host    replication  {REPLICATION_ROLE}   {self.address}/32  scram-sha-256\n"
                f"host    all          all          {self.address}/32  scram-sha-256\n")

    def _write_owned(self, path: Path, text: str, user: pwd.struct_passwd, mode: int = 0o600) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chown(path, user.pw_uid, user.pw_gid)
        os.chmod(path, mode)

    def _write_repl_passfile(self, user: pwd.struct_passwd) -> None:
        password = self.lab.secret("pg-replicator.password")
        self._write_owned(self.repl_passfile, f"{self.address}:{self._primary_port()}:*:{REPLICATION_ROLE}:"
                                              f"{password}\n", user)

    def _run_as_postgres(self, argv: list[str], what: str, env: dict | None = None, timeout: float = 120) -> None:
        with open(self.log_file, "ab") as log:
            log.write(f"\n--- {what}\n".encode())
            log.flush()
            proc = subprocess.run([*_as_postgres(), *argv], stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, cwd=self.data_dir, timeout=timeout,
                                  env=dict(os.environ, **(env or {})))
        if proc.returncode != 0:
            raise common.LabError(f"{self.name}: {what} failed (exit {proc.returncode}); see {self.log_file}:\n"
                                  f"{common._tail(self.log_file)}")

    def _basebackup(self) -> None:
        primary = self._primary_port()
        self._run_as_postgres([str(PG_BIN / "pg_basebackup"), "-h", self.address, "-p", str(primary),
                               "-U", REPLICATION_ROLE, "-D", str(self.pgdata), "-R", "-X", "stream",
                               "-c", "fast", "--no-password"],
                              f"pg_basebackup from {self.primary_name}", env={"PGPASSFILE": str(self.repl_passfile)})
        # -R wrote primary_conninfo into postgresql.auto.conf; lab.conf owns it instead, so that the
        # stop/start-wal-receiver faults can override it and reset the override (ALTER SYSTEM [RE]SET).
        auto = self.pgdata / "postgresql.auto.conf"
        kept = [line for line in auto.read_text().splitlines() if not line.startswith("primary_conninfo")]
        auto.write_text("\n".join(kept) + "\n")

    def _seed_primary(self) -> None:
        from psycopg import sql

        repl_password = self.lab.secret("pg-replicator.password")
        monitor_password = self.lab.secret("pg-monitor.password")
        with self._connect("postgres") as conn:
            for role, password, attrs in ((REPLICATION_ROLE, repl_password, "LOGIN REPLICATION"),
                                          (MONITOR_ROLE, monitor_password, "LOGIN")):
                verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
                exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
                verb = "ALTER" if exists else "CREATE"
                conn.execute(sql.SQL(f"{verb} ROLE {{}} {attrs} PASSWORD {{}}").format(
                    sql.Identifier(role), sql.Literal(verifier)))
            conn.execute(sql.SQL("GRANT pg_monitor TO {}").format(sql.Identifier(MONITOR_ROLE)))
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (SAMPLE_DB,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(SAMPLE_DB)))
        with self._connect(SAMPLE_DB) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS persons (id bigserial PRIMARY KEY, name text NOT NULL, "
                         "payload text, created timestamptz NOT NULL DEFAULT now())")
            conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (id int PRIMARY KEY, ts timestamptz NOT NULL)")
                         .format(sql.Identifier(HEARTBEAT_TABLE)))
            conn.execute(sql.SQL("INSERT INTO {} VALUES (1, now()) ON CONFLICT (id) DO NOTHING")
                         .format(sql.Identifier(HEARTBEAT_TABLE)))
            conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE ON {} TO {}").format(
                sql.Identifier(HEARTBEAT_TABLE), sql.Identifier(MONITOR_ROLE)))
            if not conn.execute("SELECT 1 FROM persons LIMIT 1").fetchone():
                conn.execute("INSERT INTO persons (name, payload) SELECT 'seed-' || g, repeat('x', 200) "
                             "FROM generate_series(1, 1000) AS g")
        self._write_monitor_passfile(monitor_password)

    def _write_monitor_passfile(self, password: str) -> None:
        """The exporter's libpq passfile: the monitoring role on this primary and on every standby port."""
        path = self.lab.state_dir / "secrets" / MONITOR_PASSFILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"# jinbao-dc lab: {MONITOR_ROLE} for the replication exporter (lab/postgres/service.py)\n"
                     f"{self.address}:*:*:{MONITOR_ROLE}:{password}\n")
        os.chmod(path, 0o600)

    def _set_conninfo_override(self, cut: bool) -> None:
        with self._connect("postgres") as conn:
            conn.execute("ALTER SYSTEM SET primary_conninfo = ''" if cut else "ALTER SYSTEM RESET primary_conninfo")
            conn.execute("SELECT pg_reload_conf()")
