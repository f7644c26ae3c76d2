# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cert gate, on the controller: the run goes on only for an operator whose certificate logs in to Vault
and whose duty in Vault is the one the playbook needs. See plugins/modules/operator_gate.py for the options."""

from __future__ import annotations

import getpass
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ansible import context
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.jinbao.dc.plugins.module_utils.pki import duties, session
from ansible_collections.jinbao.dc.plugins.module_utils.pki.approval import ApprovalError, ChangeBinding, obtain
from ansible_collections.jinbao.dc.plugins.module_utils.pki.certificates import (
    HAS_CRYPTOGRAPHY,
    PkiError,
    gate,
    iso,
    load_chain,
    load_key,
)
from ansible_collections.jinbao.dc.plugins.module_utils.seams.alertmanager import (
    AlertmanagerError,
    alarm_refusal,
    room_alarms,
)
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import (
    VaultError,
    cert_login,
    issuing_ca,
    open_unsealed,
)

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"
display = Display()


class GateError(Exception):
    def __init__(self, subject: str, check: str, message: str) -> None:
        super().__init__(f"{subject}: {check}: {message}")


def run_playbooks() -> list[str]:
    """The playbooks this ansible-playbook run was started with, by name; only the project's own playbooks
    (playbooks/<name>.yml of this collection) are known to the gate."""
    names = []
    for arg in context.CLIARGS.get("args") or ():
        path = Path(arg).resolve()
        names.append(path.stem if path.parent == PLAYBOOKS.resolve() and path.suffix == ".yml" else str(path))
    return names


def _in_official_chain(run: dict[str, Any]) -> None:
    """The run_start record the callback wrote for this run must be in the official log's tail."""
    log = Path(run["log"])
    try:
        with log.open("rb") as fh:
            fh.seek(max(0, log.stat().st_size - 1024 * 1024))
            tail = fh.read().decode("utf-8", "replace").splitlines()
    except OSError as exc:
        raise GateError("audit", "run_start", f"the official audit log {log} cannot be read ({exc})") from None
    for line in reversed(tail):
        if run["run_id"] in line:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("type") == "run_start" and record.get("run_id") == run["run_id"]:
                return
    raise GateError("audit", "run_start", f"this run's start record ({run['run_id']}) is not in the official audit "
                                          f"log {log}; the run is not being recorded there")


def _append(path: str, record: dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, (json.dumps(record, sort_keys=True) + "\n").encode())
    finally:
        os.close(fd)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("name", "url", "ca_file", "timeout", "mount", "operator", "cert", "key", "domain",
                             "record", "cert_auth_mount", "cert_auth_role", "alertmanager_url",
                             "alertmanager_ca_file", "alertmanager_required", "alarm_override",
                             "alarm_override_path", "alarm_override_timeout"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        operator = str(args.get("operator") or "") or "(nobody)"
        playbooks = run_playbooks()
        self._firing: dict[str, list[dict[str, str]]] = {}  # the target rooms in alarm (_no_alarm)
        record: dict[str, Any] = {"time": iso(datetime.now(UTC)), "os_user": getpass.getuser(), "operator": operator,
                                  "playbook": ",".join(playbooks), "check_mode": bool(self._task.check_mode)}
        run = session.audit_run()
        if run:
            record["run_id"] = run["run_id"]
        try:
            identity = self._admit(args, operator, playbooks, run, task_vars or {}, result)
        except (GateError, PkiError, VaultError, duties.DutyError) as exc:
            if args.get("record"):
                _append(args["record"], {**record, "result": "refused", "reason": str(exc)})
            result.update(failed=True, msg=f"operator gate: {exc}. The playbook stops here; nothing was changed.")
            return result
        granted = {**record, "result": "granted", "cn": identity["cn"], "serial": identity["serial"],
                   "duty": identity["duty"], "rooms": identity.get("rooms", [])}
        if identity.get("alarm_override"):  # who approved a change in a room in alarm, and why (also in the chain)
            granted["alarm_override"] = identity["alarm_override"]
        _append(args["record"], granted)
        result.update(changed=False, identity=identity)
        return result

    def _no_alarm(self, args: dict[str, Any], task_vars: dict[str, Any], operator: str,
                  result: dict[str, Any]) -> list[str]:
        """No change starts in a room where a critical alert fires (UPS on battery, smoke, water, temperature...):
        the rooms of the hosts this run targets (after --limit) are asked of Alertmanager. Only for the system
        administrator's playbooks, the ones that change the facility."""
        url = args.get("alertmanager_url")
        if not any(duties.required_duty(p) == duties.SYSTEM for p in run_playbooks()):
            return []  # people, the PKI, approvals and the evidence go on in an incident: they change no room
        hostvars = task_vars.get("hostvars") or {}
        rooms = sorted({str(hostvars[h].get("room")) for h in task_vars.get("ansible_play_hosts_all") or ()
                        if h in hostvars and hostvars[h].get("room")})
        if not url or not rooms:
            return rooms
        firing = self._firing = {}
        for room in rooms:
            try:
                alarms = room_alarms(url, room, args.get("alertmanager_ca_file") or None)
            except AlertmanagerError as exc:
                if boolean(args.get("alertmanager_required", True), strict=False):
                    raise GateError(operator, "alarms", f"cannot tell whether room {room} is in alarm ({exc}); "
                                                        "no change starts in a room nobody can see") from None
                result.setdefault("warnings", []).append(f"operator gate: room alarms not checked: {exc}")
                return rooms
            if alarms:
                firing[room] = alarms
        if firing and not str(args.get("alarm_override") or "").strip():
            room, alarms = next(iter(firing.items()))
            raise GateError(operator, "alarms", alarm_refusal(alarms, room) + " (-e alarm_override='<reason>' asks a "
                                                "security administrator to approve the change in spite of it)")
        return rooms

    def _override(self, args: dict[str, Any], client: Any, identity: dict[str, Any], playbooks: list[str],
                  firing: dict[str, list[dict[str, str]]]) -> dict[str, Any]:
        """A change in a room in alarm, approved by a second person (a security administrator) for these very rooms,
        alerts and reason: Vault releases the override's controlled path only then. Returns what is recorded."""
        reason = " ".join(str(args.get("alarm_override") or "").split())
        alerts = sorted(f"{room}/{a['alertname']}" for room, alarms in firing.items() for a in alarms)
        change = json.dumps({"rooms": sorted(firing), "alerts": alerts, "reason": reason}, sort_keys=True)
        path = f"jinbao/data/{str(args.get('alarm_override_path') or 'facility/main/override/room-alarm').strip('/')}"
        binding = ChangeBinding(playbook=",".join(playbooks), limit=str(context.CLIARGS.get("subset") or "all"),
                                digest=ChangeBinding.digest_of(change), requester=identity["cn"], path=path)
        try:
            _data, done, pending = obtain(
                client, path, binding, what=f"a change in spite of the alarm in {', '.join(sorted(firing))} "
                f"({', '.join(alerts)}; reason: {reason})", approver="a security administrator",
                timeout=float(args.get("alarm_override_timeout") or 900), say=display.display)
        except ApprovalError as exc:
            room, alarms = next(iter(firing.items()))
            raise GateError(identity["operator"], "alarms", f"{alarm_refusal(alarms, room)}, and the override was not "
                                                            f"approved ({exc})") from None
        approvals = done.get("approvals") or [{}]
        return {"rooms": sorted(firing), "alerts": alerts, "reason": reason, "digest": binding.digest,
                "accessor": pending.accessor, "approver": approvals[-1].get("name")}

    def _admit(self, args: dict[str, Any], operator: str, playbooks: list[str], run: dict | None,
               task_vars: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
        if not HAS_CRYPTOGRAPHY:
            raise GateError(operator, "controller", "the cryptography library is missing; run `make deps`")
        from cryptography import x509

        for key in ("name", "url", "cert", "key", "domain", "record"):
            if not args.get(key):
                raise GateError(operator, key, "missing; the gate's role (roles/operator_gate) sets it")
        # 1. The run is recorded by the official audit trail (the callback opened this run, with the project's
        #    own sinks, no environment override), and its start record is there.
        if run is None:
            raise GateError("audit", "callback", "the audit trail (jinbao.dc.audit_log) is not loaded in this run "
                                                 "(ANSIBLE_CALLBACKS_ENABLED or another ansible.cfg left it out); "
                                                 "no change runs unrecorded")
        if not run.get("official"):
            raise GateError("audit", "sinks", f"this run writes its audit trail to {run.get('log')}, not to the "
                                              f"official sinks ({run.get('why') or 'configuration differs'})")
        _in_official_chain(run)
        if operator == "(nobody)":
            raise GateError(operator, "operator", "no operator given; say whose certificate to present with "
                                                  "JINBAO_OPERATOR=<id>")
        held = session.get()
        if held:  # site.yml: each stage imports the gate; the first admitted the operator for the whole run
            if held["operator"] != operator:
                raise GateError(operator, "operator", f"this run was admitted for {held['operator']} already")
            return {k: held.get(k) for k in ("operator", "cn", "serial", "not_after", "issuer", "duty", "accessor",
                                             "entity_id")} | {
                "playbook": ",".join(playbooks), "reused": True}
        # 2. The certificate: chain, validity, CRL, client usage, name and key (on the controller).
        name = args["name"]
        timeout = float(args.get("timeout") or 30)
        public = open_unsealed(name, args["url"], args.get("ca_file"), timeout)
        ca_pem, crl_pem = issuing_ca(name, public, args.get("mount") or "pki-city")
        try:
            chain, key = load_chain(args["cert"]), load_key(args["key"])
        except (ValueError, TypeError, OSError) as exc:
            raise PkiError(operator, "certificate", f"{args['cert']} or {args['key']} cannot be read ({exc})") from None
        identity = gate(operator, ",".join(playbooks), chain, key, x509.load_pem_x509_certificate(ca_pem.encode()),
                        x509.load_pem_x509_crl(crl_pem.encode()), args["domain"])
        # 3. No change in a room in alarm (Alertmanager), before anything is asked of Vault.
        identity["rooms"] = self._no_alarm(args, task_vars, operator, result)
        # 4. Vault's own check (auth/cert: chain, the CRL it holds), and the duty it knows for this person.
        client, token = cert_login(name, args["url"], args["cert"], args["key"], args.get("ca_file"),
                                   args.get("cert_auth_mount") or "cert", args.get("cert_auth_role") or "operators",
                                   timeout)
        try:
            duty = duties.duty_of(operator, token["identity_policies"])
            duties.check_playbooks(operator, duty, playbooks)
        except duties.DutyError:
            try:
                client.auth.token.revoke_self()
            except Exception:  # the token's TTL ends it anyway
                pass
            raise
        identity.update(duty=duty, accessor=token["accessor"], entity_id=token["entity_id"])
        if self._firing:  # 5. A room in alarm, and the operator asked to go on: a second person approves it.
            try:
                identity["alarm_override"] = self._override(args, client, {**identity, "operator": operator},
                                                             playbooks, self._firing)
            except GateError:
                try:
                    client.auth.token.revoke_self()
                except Exception:  # the token's TTL ends it anyway
                    pass
                raise
        session.put({"token": client.token, "accessor": token["accessor"], "entity_id": token["entity_id"],
                     "operator": operator, "cn": identity["cn"], "serial": identity["serial"], "duty": duty,
                     "not_after": identity["not_after"], "issuer": identity["issuer"],
                     "vault": name, "url": args["url"], "ca_file": args.get("ca_file"),
                     "expire_time": token["expire_time"], "playbooks": playbooks})
        return identity
