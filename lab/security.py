"""The lab's security administration, as a site team does it once its Vault is up (README: starting on your own
facility), run by `labctl up` whenever the lab's Vault is among what it started:

1. Bootstrap, once: playbooks/bootstrap.yml with the root token from `operator init` (in the environment, never a
   file or -e) builds the PKI, the duties and the certificate login, makes the first security administrator
   (lab-secadmin) and revokes the root token; the lab then forgets it (openbao-init.json keeps the unseal key).
2. The facility's credentials, as lab-secadmin: the secrets the lab generated for its devices (.lab/secrets, the
   devices' side) go into Vault through playbooks/credentials.yml, at facility/<room>/<system>/<name>.
3. The other operators, as lab-secadmin: lab-sysadmin (system administrator, the demo's) and lab-auditor (audit
   administrator), through playbooks/operator_onboard.yml.
4. The platform's service certificates, as lab-sysadmin: playbooks/service_certs.yml (jinbao_services), so the Vault
   raft snapshot agent (backup-01's vault-raft job) has its certificate right after lab-up, and one from the current
   issuing CA after a Vault reset (pki_certs re-issues a certificate the current CA did not sign).

Each step is idempotent (a second `labctl up` changes nothing) and each is an audited, gated run like any other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from lab.common import ROOT, Lab, LabError

SECURITY_ADMIN = "lab-secadmin"
SYSTEM_ADMIN = "lab-sysadmin"  # the demo's operator; also runs the system administrator's step of lab-up
AUDITOR = "lab-auditor"  # also the second person of the security administrator's two-person changes
OPERATORS = ((SYSTEM_ADMIN, "system-admin"), (AUDITOR, "audit-admin"))
VAULT_URL = "https://127.0.0.1:18200"  # vault-01 (inventory/lab), which forwards to the raft leader


def login(operator: str, timeout: float = 30.0):
    """An hvac client logged in to the lab's Vault with `operator`'s certificate (auth/cert, role operators), as
    the gate logs in: for the lab's second person, the benches and the tests."""
    import hvac

    folder = ROOT / ".pki" / "operators" / operator
    client = hvac.Client(url=VAULT_URL, verify=str(ROOT / ".lab" / "pki" / "ca.crt"), timeout=timeout)
    client.auth.cert.login(name="operators", cert_pem=str(folder / f"{operator}.crt"),
                           key_pem=str(folder / f"{operator}.key"))
    return client


def _room_of(data: dict) -> dict[str, str]:
    rooms = {}
    for group, body in data.items():
        if group.startswith("room_") and isinstance(body, dict):
            for host in body.get("hosts") or ():
                rooms[host] = group.removeprefix("room_")
    return rooms


def _members(data: dict, group: str) -> list[str]:
    """The hosts of `group` and of its children, as ansible-inventory --list shows them."""
    body = data.get(group) or {}
    hosts = list(body.get("hosts") or ())
    for child in body.get("children") or ():
        hosts += _members(data, child)
    return sorted(set(hosts))


def lab_credentials(lab: Lab, data: dict) -> dict[str, dict[str, str]]:
    """The lab's device secrets, laid out as the facility's credentials in Vault (docs/SECURITY.md)."""
    hostvars = data.get("_meta", {}).get("hostvars", {})
    rooms = _room_of(data)
    creds: dict[str, dict[str, str]] = {}

    def path(host: str, system: str) -> str:
        return f"facility/{rooms.get(host, 'main')}/{system}/{host}"

    for host in _members(data, "vcenters"):
        creds[path(host, "vcenter")] = {"username": str(hostvars[host].get("vcenter_username", "jinbao-lab")),
                                        "password": lab.secret("vcenter.password")}
    # the account that decommissions (two-person control); the lab's simulator has one account, so the same one
    creds["facility/main/vcenter/decommission"] = {
        "username": str(next((hostvars[h].get("vcenter_username") for h in _members(data, "vcenters")), "jinbao-lab")),
        "password": lab.secret("vcenter.password")}
    # the marker the gate's alarm override reads, released only when a security administrator approves it
    creds["facility/main/override/room-alarm"] = {"purpose": "two-person override of the gate's room-alarm refusal"}
    for host in _members(data, "network"):
        password = lab.secret("netdev.password")
        creds[path(host, "netdev")] = {"username": str(hostvars[host].get("netdev_username", "jinbao-lab")),
                                       "password": password, "secret": password}
    netdev_user = next((str(hostvars[h].get("netdev_username")) for h in _members(data, "core_switches")
                        if hostvars[h].get("netdev_username")), "jinbao-lab")
    creds["facility/main/netdev/core-pair"] = {"username": netdev_user, "password": lab.secret("netdev.password"),
                                               "secret": lab.secret("netdev.password")}  # under two-person control
    for host in _members(data, "bmcs"):
        creds[path(host, "bmc")] = {"username": str(hostvars[host].get("redfish_username", "jinbao-lab")),
                                    "password": lab.secret("bmc.password")}
    for group in ("ups", "pdus", "sensors"):
        for host in _members(data, group):
            creds[path(host, "snmp")] = {"community": lab.secret("snmp-community")}
    creds["facility/main/postgres/pg-monitor"] = {"username": "jinbao_monitor",
                                                  "password": lab.secret("pg-monitor.password")}
    creds["facility/main/postgres/pg-replicator"] = {"username": "replicator",
                                                     "password": lab.secret("pg-replicator.password")}
    for host, hv in hostvars.items():
        for job in hv.get("backup_jobs") or ():
            if isinstance(job, dict) and job.get("name"):
                creds[f"facility/{rooms.get(host, 'main')}/restic/{job['name']}"] = {
                    "password": lab.secret(f"restic-{job['name']}")}
    return creds


def _playbook(inventory: Path, playbook: str, *args: str, operator: str | None = None,
              env: dict[str, str] | None = None) -> str:
    exe = Path(sys.executable).with_name("ansible-playbook")
    run_env = {k: v for k, v in os.environ.items() if not k.startswith(("JINBAO_", "ANSIBLE_"))}
    run_env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", **(env or {}))
    if operator:
        run_env["JINBAO_OPERATOR"] = operator
    proc = subprocess.run([str(exe), "-i", str(inventory), str(ROOT / "playbooks" / playbook), *args], cwd=ROOT,
                          env=run_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-25:])
        raise LabError(f"security: {playbook} {' '.join(args)} failed (as {operator or 'bootstrap'}):\n{tail}")
    recap = proc.stdout[proc.stdout.rfind("PLAY RECAP"):]
    changed = sum(int(part.split("=")[1]) for part in recap.split() if part.startswith("changed="))
    return f"{playbook}: {'changed ' + str(changed) if changed else 'ok'}"


def ensure(lab: Lab, inventory: Path, data: dict) -> list[str]:
    """Bootstrap (once), the credentials and the operators; returns one line per step."""
    done = []
    init_file = lab.state_dir / "secrets" / "openbao-init.json"
    init = json.loads(init_file.read_text())
    if init.get("root_token"):
        done.append(_playbook(inventory, "bootstrap.yml", "-e", f"first_security_admin={SECURITY_ADMIN}",
                              env={"JINBAO_BOOTSTRAP_TOKEN": init["root_token"]}))
        init["root_token"] = None
        init["root_token_revoked_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        fd = os.open(init_file.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(init, fh)
        os.replace(init_file.with_suffix(".tmp"), init_file)
    secrets_dir = lab.state_dir / "secrets"
    fd, tmp = tempfile.mkstemp(prefix=".credentials-", suffix=".json", dir=secrets_dir)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(lab_credentials(lab, data), fh)
        done.append(_playbook(inventory, "credentials.yml", "-e", f"credentials_file={tmp}",
                              operator=SECURITY_ADMIN))
    finally:
        os.unlink(tmp)
    for operator, duty in OPERATORS:
        done.append(_playbook(inventory, "operator_onboard.yml", "-e", f"operator={operator}", "-e", f"duty={duty}",
                              operator=SECURITY_ADMIN))
    try:
        done.append(_playbook(inventory, "service_certs.yml", operator=SYSTEM_ADMIN))
    except LabError as exc:
        # The gate holds back the system administrator's runs while a room is in alarm (a test may have set one
        # off): lab-up goes on, says so, and the next lab-up (or site.yml) issues what is missing.
        refusal = next((line.strip() for line in str(exc).splitlines() if ": alarms: room " in line), "")
        if not refusal:
            raise
        done.append(f"service_certs.yml: not run now, the gate refused it ({refusal[-200:]}); run lab-up again "
                    "once the room is quiet")
    return done
