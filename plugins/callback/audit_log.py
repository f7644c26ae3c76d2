# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit trail: every ansible-playbook run, recorded in a hash-chained, append-only JSON-lines log."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: audit_log
type: aggregate
short_description: Record every playbook run in a hash-chained, append-only JSON-lines log with a second copy
description:
  - Always on (it needs no enabling), for every ansible-playbook run of the project.
  - Before the first task it appends a C(run_start) record (who, what, when) to the primary log and to the
    second sink; if either cannot be written, the run stops there, before anything changes. Before every
    later task it checks that both sinks can still be opened for appending, and stops the run if not.
  - At the end it appends a C(run_end) record with the operator's certificate CN and serial (from the
    operator_gate task), the changed tasks per host with a line count of their diff (never the content,
    never the arguments; a no_log task is recorded as censored), the start and end time in UTC and the
    result. A run that dies leaves its C(run_start) record without a C(run_end).
  - Each record carries its sequence number, the SHA-256 of the previous record's line and its own SHA-256.
    C(make audit-verify) (plugins/module_utils/audit/cli.py verify) checks the chain. See docs/AUDIT.md.
  - At the end of a run in which the cert gate admitted an operator, the chain's head (the run's end record)
    is anchored in Vault (KV, create-only, with the operator's token, so the write is in Vault's audit log), and
    the token is revoked. A chain re-sealed on the controller then disagrees with Vault's anchors.
options:
  log:
    description:
      - The primary log's current file; rotated files are kept beside it as <stem>-<UTC>.jsonl.
      - Unset, it is reports/audit/audit.jsonl in the project.
      - Set only in the project's ansible.cfg; an environment variable cannot move it (JINBAO_AUDIT_LOG in the
        environment stops the run), and a configuration whose sinks differ from the project's own is recorded
        as not official; the cert gate admits no operator in such a run.
    type: path
    ini: [{section: callback_audit_log, key: log}]
  sink2:
    description:
      - The second copy (it stands for a remote write-once store); the same records, the same rotation.
      - Unset, it is .cache/audit-sink/audit.jsonl in the project.
      - Like I(log), set only in the project's ansible.cfg.
    type: path
    ini: [{section: callback_audit_log, key: sink2}]
  max_bytes:
    description: Rotate the current file when it reaches this size (it also rotates at each month start).
    type: int
    default: 67108864
    env: [{name: JINBAO_AUDIT_MAX_BYTES}]
    ini: [{section: callback_audit_log, key: max_bytes}]
  retention_days:
    description: Remove a rotated file only once its last record is older than this; never less than 180.
    type: int
    default: 400
    env: [{name: JINBAO_AUDIT_RETENTION_DAYS}]
    ini: [{section: callback_audit_log, key: retention_days}]
"""

import configparser
import getpass
import os
import socket
import sys
import uuid
from pathlib import Path
from typing import Any

from ansible import context
from ansible.plugins.callback import CallbackBase

from ansible_collections.jinbao.dc.plugins.module_utils.audit import anchor, chain
from ansible_collections.jinbao.dc.plugins.module_utils.pki import session

ROOT = Path(__file__).resolve().parents[2]
# The cert gate, by its fully qualified name only: a module of that short name in another collection is not it.
GATE_ACTIONS = frozenset({"jinbao.dc.operator_gate"})
STOP_EXIT_CODE = 1
# Environment variables that would move the audit trail or keep this callback out of a run: refused outright.
REFUSED_ENV = ("JINBAO_AUDIT_LOG", "JINBAO_AUDIT_SINK2", "ANSIBLE_CALLBACK_PLUGINS", "ANSIBLE_CALLBACKS_ENABLED",
               "ANSIBLE_CALLBACK_WHITELIST", "ANSIBLE_LOAD_CALLBACK_PLUGINS", "ANSIBLE_STDOUT_CALLBACK_PLUGINS")
# Variables an -e may not set: who is admitted (the operator and where the gate finds their certificate), which
# Vault answers and how it is reached, which credential a host reads, and any token (prefixes, names, suffix).
PROTECTED_VAR_PREFIXES = ("jinbao_operator", "jinbao_credential", "jinbao_room", "jinbao_vault", "jinbao_alertmanager",
                          "vault_", "operator_gate_", "credential_", "ansible_play_")
PROTECTED_VARS = frozenset({"lab_state_dir", "room", "groups", "hostvars"})
PROTECTED_VAR_SUFFIXES = ("_token",)




def official_sinks() -> tuple[Path, Path]:
    """The audit sinks the project's own ansible.cfg names (resolved against the project root)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "ansible.cfg")
    log = parser.get("callback_audit_log", "log", fallback=str(chain.DEFAULT_LOG))
    sink2 = parser.get("callback_audit_log", "sink2", fallback=str(chain.DEFAULT_SINK2))
    return (ROOT / log).resolve(), (ROOT / sink2).resolve()


def _runner_display(variable: str) -> bool:
    """ansible-runner (AWX, Automation Platform) adds its own display callback through ANSIBLE_CALLBACK_PLUGINS:
    allowed when every path given is inside the installed ansible_runner package, beside ansible itself."""
    if variable != "ANSIBLE_CALLBACK_PLUGINS":
        return False
    import ansible

    runner = (Path(ansible.__file__).resolve().parents[1] / "ansible_runner").resolve()
    paths = [Path(p).resolve() for p in os.environ[variable].split(os.pathsep) if p]
    return bool(paths) and all(path == runner or runner in path.parents for path in paths)


def protected_extra_vars(extra_vars: dict[str, Any]) -> list[str]:
    return sorted(k for k in extra_vars if k in PROTECTED_VARS or k.startswith(PROTECTED_VAR_PREFIXES)
                  or k.endswith(PROTECTED_VAR_SUFFIXES))


def _relative(path: str | None) -> str | None:
    """A path inside the project relative to its root (file:line kept), anything else as it is."""
    if not path:
        return path
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except (ValueError, OSError):
        return str(path)


def _task_name(task) -> str:
    """The task's name as written in the playbook or role (a template is kept unrendered: no variable's
    value, secret or not, gets into the log through a name)."""
    raw = getattr(task, "_ds", None)
    name = raw.get("name") if isinstance(raw, dict) else None
    return str(name or task.action or "task")


def _is_gate(task) -> bool:
    return task.action in GATE_ACTIONS or getattr(task, "resolved_action", None) in GATE_ACTIONS


def _who() -> dict[str, Any]:
    """Who started the run on the controller; the proven operator comes later, from the cert gate."""
    return {"os_user": getpass.getuser(), "uid": os.getuid(), "sudo_user": os.environ.get("SUDO_USER"),
            "controller": socket.gethostname(), "operator_claimed": os.environ.get("JINBAO_OPERATOR") or None}


def _what(playbook) -> dict[str, Any]:
    """What was asked for: playbooks, limit, tags, check and diff mode, inventory. Never extra vars (they
    may carry secrets)."""
    args = context.CLIARGS
    return {"playbooks": [_relative(os.path.abspath(p)) for p in args.get("args") or ()]
            or [_relative(getattr(playbook, "_file_name", None))],
            "limit": args.get("subset") or None,
            "tags": list(args.get("tags") or ()), "skip_tags": list(args.get("skip_tags") or ()),
            "check_mode": bool(args.get("check")), "diff_mode": bool(args.get("diff")),
            "inventory": [_relative(os.path.abspath(i)) if os.path.exists(i) else i
                          for i in args.get("inventory") or ()],
            "start_at_task": args.get("start_at_task") or None}


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "audit_log"
    CALLBACK_NEEDS_ENABLED = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._log: Any = None
        self._start: dict[str, Any] | None = None
        self._hosts: dict[str, dict[str, list]] = {}
        self._plays: list[str] = []
        self._gate: dict[str, Any] | None = None
        self._ended = False

    # --- set-up and the stop ------------------------------------------------------------------------

    def _sinks(self) -> tuple[Path, Path]:
        log = Path(self.get_option("log") or chain.DEFAULT_LOG)
        sink2 = Path(self.get_option("sink2") or chain.DEFAULT_SINK2)
        return (ROOT / log).resolve(), (ROOT / sink2).resolve()

    def _appender(self):
        if self._log is None:
            log, sink2 = self._sinks()
            self._log = chain.Appender(Path(log), [Path(sink2)], max_bytes=int(self.get_option("max_bytes")),
                                       retention_days=int(self.get_option("retention_days")))
        return self._log

    def _close_session(self, head: dict[str, Any] | None = None) -> None:
        """Anchor the chain's head (this run's end record) in Vault with the operator's token, then revoke the
        token: it lives as long as the run. A run without an admitted operator has no token; the next gated run's
        anchor covers its records (each record's hash covers every record before it)."""
        held = session.close()
        if not held:
            return
        from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import session_client

        client = session_client(held, timeout=10)
        if head is not None:
            try:
                anchor.write_anchor(client, head, str(self._sinks()[0]), name=held.get("vault", "vault"))
            except Exception as exc:  # the run is over; say loudly that its end is not anchored
                self._display.warning(f"audit trail: the chain's head (seq {head.get('seq')}) could not be anchored "
                                      f"in Vault ({exc}); make audit-verify will show it unanchored")
        try:
            client.auth.token.revoke_self()
        except Exception as exc:  # its TTL ends it anyway; say so
            self._display.warning(f"audit trail: the run's Vault token could not be revoked ({type(exc).__name__}); "
                                  "it expires with its TTL")

    def _stop(self, why: str, tail: str | None = None) -> None:
        """End the run now: an unaudited change is worse than no change. SystemExit passes through Ansible's
        callback dispatch (which turns exceptions into warnings), and no task is queued after it."""
        self._close_session()
        if self._start is not None and "start_seq" in self._start and not self._ended:
            self._ended = True
            try:  # best effort: whichever sink still takes it records how the run ended
                self._appender().append(self._end_body("stopped", why))
            except Exception:  # the stop below must happen whatever went wrong here
                pass
        tail = tail or "nothing more is changed until the audit sinks can be written"
        self._display.error(f"audit trail: {why}. The run stops here, before any further task; {tail}.",
                            wrap_text=False)
        sys.stdout.flush()
        raise SystemExit(STOP_EXIT_CODE)

    def _warn_disagreements(self) -> None:
        for warning in self._appender().warnings:
            self._display.warning(f"audit trail: {warning}")
        self._appender().warnings.clear()

    # --- the run ------------------------------------------------------------------------------------

    def v2_playbook_on_start(self, playbook) -> None:
        if self._start is not None:  # ansible-playbook a.yml b.yml: one run, one pair of records
            return
        now = chain.utc_now()
        self._start = {"run_id": str(uuid.uuid4()), "started": chain.iso(now)}
        try:
            self._start.update(who=_who(), what=_what(playbook))
            self._appender().probe()
            record = self._appender().append({"type": "run_start", "run_id": self._start["run_id"],
                                              "who": self._start["who"], "what": self._start["what"]}, now=now)
        except chain.AuditSinkError as exc:
            self._stop(str(exc))
        except Exception as exc:  # a fault here must not let the run go on unaudited
            self._stop(f"the run's start record could not be written ({type(exc).__name__}: {exc})")
        self._start["start_seq"] = record["seq"]
        self._warn_disagreements()
        overrides = sorted(k for k in REFUSED_ENV if os.environ.get(k) and not _runner_display(k))
        if overrides:
            self._stop(f"{', '.join(overrides)} set in the environment would move the audit trail or keep it out "
                       "of the run; unset it (the trail is configured only in the project's ansible.cfg)",
                       "nothing was changed, and this refusal is in the audit trail")
        log, sink2 = self._sinks()
        official = official_sinks()
        config = os.environ.get("ANSIBLE_CONFIG") or "ansible.cfg"
        why = None if (log, sink2) == official else (f"this configuration ({config}) writes to {log} and {sink2}, "
                                                     f"the project's to {official[0]} and {official[1]}")
        session.open_run({"run_id": self._start["run_id"], "log": str(log), "sink2": str(sink2),
                          "start_seq": record["seq"], "official": why is None, "why": why})

    def v2_playbook_on_play_start(self, play) -> None:
        self._plays.append(str(play.get_name()))
        manager = play.get_variable_manager()
        extra = getattr(manager, "extra_vars", None) or {}
        refused = protected_extra_vars(extra)
        if refused:
            self._stop(f"-e {', '.join(refused)}: the gate's, Vault's and the lab's connection variables cannot be "
                       "set from the command line (they decide who is admitted and which Vault answers)",
                       "nothing was changed, and this refusal is in the audit trail")
        self._still_writable()

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        self._still_writable()

    def v2_playbook_on_handler_task_start(self, task) -> None:
        self._still_writable()

    def _still_writable(self) -> None:
        try:
            self._appender().probe()
        except chain.AuditSinkError as exc:
            self._stop(str(exc))

    # --- task results -------------------------------------------------------------------------------

    def _host(self, name: str) -> dict[str, list]:
        return self._hosts.setdefault(name, {"changed": [], "failed": []})

    def _entry(self, result) -> dict[str, Any]:
        task, data = result.task, result.result
        entry: dict[str, Any] = {"task": _task_name(task), "action": task.action, "path": _relative(task.get_path())}
        censored = "censored" in data or task.no_log is True
        if censored:
            entry["censored"] = True  # no_log: nothing of the result, not even its diff size
        else:
            diffs = [data.get("diff")] + [item.get("diff") for item in data.get("results") or ()
                                          if isinstance(item, dict)]
            summaries = [s for s in (chain.diff_summary(d) for d in diffs) if s]
            entry["diff"] = ({"added": sum(s["added"] for s in summaries),
                              "removed": sum(s["removed"] for s in summaries)} if summaries else None)
        return entry

    def v2_runner_on_ok(self, result) -> None:
        if _is_gate(result.task):
            identity = result.result.get("identity") or {}
            self._gate = {"result": "granted", "operator": identity.get("operator"), "cn": identity.get("cn"),
                          "serial": identity.get("serial"), "not_after": identity.get("not_after"),
                          "issuer": identity.get("issuer"), "duty": identity.get("duty"),
                          "vault_accessor": identity.get("accessor"), "gate_host": result.host.get_name()}
        if result.result.get("changed"):
            self._host(result.host.get_name())["changed"].append(self._entry(result))

    def v2_runner_on_failed(self, result, ignore_errors: bool = False) -> None:
        if _is_gate(result.task):
            self._gate = {"result": "refused", "reason": str(result.result.get("msg", ""))[:500],
                          "gate_host": result.host.get_name()}
        entry = self._entry(result)
        entry["ignored"] = bool(ignore_errors)
        self._host(result.host.get_name())["failed"].append(entry)
        if result.result.get("changed"):
            self._host(result.host.get_name())["changed"].append(self._entry(result))

    def v2_runner_on_unreachable(self, result) -> None:
        entry = {"task": _task_name(result.task), "path": _relative(result.task.get_path()), "unreachable": True}
        self._host(result.host.get_name())["failed"].append(entry)

    def v2_runner_on_async_ok(self, result) -> None:
        if result.result.get("changed"):
            self._host(result.host.get_name())["changed"].append(self._entry(result))

    # --- the end ------------------------------------------------------------------------------------

    def _end_body(self, result: str, reason: str | None = None, stats=None) -> dict[str, Any]:
        now = chain.utc_now()
        hosts = {}
        for name in sorted(set(stats.processed if stats else ()) | set(self._hosts)):
            hosts[name] = {**({"stats": stats.summarize(name)} if stats else {}), **self._host(name)}
        who = dict(self._start["who"])
        gate = self._gate or {"result": "not run"}
        who.update({"operator": gate.get("operator"), "cert_cn": gate.get("cn"), "cert_serial": gate.get("serial"),
                    "duty": gate.get("duty"), "gate": gate})
        body = {"type": "run_end", "run_id": self._start["run_id"], "start_seq": self._start["start_seq"],
                "who": who, "what": {**self._start["what"], "plays": self._plays},
                "when": {"start": self._start["started"], "end": chain.iso(now)},
                "result": result, "hosts": hosts, "time": chain.iso(now)}
        if reason:
            body["reason"] = reason
        return body

    def v2_playbook_on_stats(self, stats) -> None:
        if self._start is None or self._ended:
            return
        self._ended = True
        bad = any(stats.summarize(h).get("failures") or stats.summarize(h).get("unreachable") for h in stats.processed)
        result = "refused" if (self._gate or {}).get("result") == "refused" else ("failed" if bad else "ok")
        try:
            head = self._appender().append(self._end_body(result, stats=stats))
        except Exception as exc:  # the changes are done; the exit code must say so
            self._stop(f"the run's end record could not be written: {exc}")
        self._close_session(head)
        self._warn_disagreements()
