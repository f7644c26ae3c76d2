"""Benchmark issue #4: configure 30 simulated core switches through playbooks/network.yml, side by side with a
serial loop of the same play and a bare netmiko script on a thread pool.

    PYTHONPATH=.cache/collections .venv/bin/python -m bench.netpush.run [--latency none|ios] [--rounds 1]
        [--workers 25] [--runs project,bare,serial] [--no-write]

The switches: bench-sw-01..30 of bench/netpush/inventory, fake-switches Cisco IOS (the lab's extended
`cisco_generic` model, lab/netdevices/fakeswitch) on 127.0.0.1:18901-18930, each a copy of the lab's core-01 (odd
numbers, side a of a pair) or core-02 (even, side b) with its seed configuration, so the core template has a
real delta to push (VRFs, SVIs into their VRF, zone ACLs: ~70 lines). Their state (data, pid files, logs,
known_hosts) is under .cache/bench/netpush/lab; the password is the lab's. They are stopped at the end, also
on SIGTERM.

Before timing: the lab's Vault up with its operators and the facility's credentials (`labctl up --only openbao`;
network.yml is cert-gated and the system administrator's). The bench switches are core switches: like the lab's
core pair they log in with the core pair's credential (facility/main/netdev/core-pair, the lab's netdev
password), which Vault releases only under two-person control. Then each round runs, each from all 30 switches
reset to their seed and into fresh report and backup folders under .cache/bench/netpush/<run>-<round>/:

* project: `JINBAO_OPERATOR=lab-sysadmin ansible-playbook -i bench/netpush/inventory playbooks/network.yml` (side a
  of every pair in parallel, then side b, one batch task; forks 25 from ansible.cfg), ansible-playbook start-up,
  the gate (cert login), the two-person approval, the credential reads and the policy checks included. The run
  asks a security administrator to approve its change and waits: the bench is that second person, and runs
  `playbooks/approve.yml` as lab-secadmin (bound to the playbook and the change's digest the run prints) as soon
  as the run asks; its time is part of the project's, and its CPU part of the controller's;
* bare:    a netmiko script on a ThreadPoolExecutor (--workers), side a then side b: per switch connect
  (strict host keys; the password from the lab's file, no gate, no Vault), `show running-config` into a backup
  file with its SHA-256, the delta of
  plugins/module_utils/seams/netdev.py (the same intended configuration, rendered with jinja2 from the role's
  template and filters), pushed, verified (running configuration read again: no delta left), `write memory`;
* serial:  the project's play with `-e network_batch=1` (one device at a time), approved the same way.

Every run is checked afterwards, untimed: the playbook exited 0; every switch runs and has saved the intended
configuration (no delta left, every ZONE- ACL there); all three runs sent each switch the same lines.
Prints the wall times and the ratios serial / project (goal >= 5x) and project / bare (goal <= 1.5x),
medians over --rounds, writes the `## netpush` section of docs/BENCHMARKS.md and exits 1 when a goal is
missed or a run is wrong. Where the time goes: both playbook runs carry ansible.posix.profile_tasks (their
time by part; enabled by a copy of the project's ansible.cfg, PROFILED_CFG, since the audit trail refuses
ANSIBLE_CALLBACKS_ENABLED), every run's CPU is counted (controller and switches), and after the runs one switch
is taken from its seed step by step through the project's session code and through the bare script's.
"""

from __future__ import annotations

import argparse
import configparser
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import jinja2
import yaml

from ansible_collections.jinbao.dc.plugins.filter import network as filters
from ansible_collections.jinbao.dc.plugins.module_utils.seams import netdev
from bench.harness import ROOT, SECURITY_ADMIN, SYSTEM_ADMIN, VENV_BIN, lab_operator, log, machine, update_benchmarks
from lab import common
from lab.netdevices.fakeswitch import service as fakeswitch

HERE = Path(__file__).resolve().parent
INVENTORY = HERE / "inventory"
STATE = ROOT / ".cache" / "bench" / "netpush"
LAB_STATE = STATE / "lab"  # the bench switches' lab: data/<host>/, run/, log/, netdev/known_hosts
LAB = ROOT / ".lab"
PLAYBOOK = ROOT / "playbooks" / "network.yml"
# The project's ansible.cfg with ansible.posix.profile_tasks enabled beside the audit trail (written by run.py).
PROFILED_CFG = STATE / "ansible.cfg"
# ansible.cfg options that hold paths relative to the file: absolute in PROFILED_CFG, which lives elsewhere.
CFG_PATHS = {"inventory", "roles_path", "collections_path", "fact_caching_connection", "log", "sink2"}
TEMPLATE = ROOT / "roles" / "network" / "templates" / "cisco" / "core.cfg.j2"
MANAGED = [r"^ip access-list extended ZONE-"]  # roles/network/defaults/main.yml: network_managed.core
SPEEDUP_GOAL, BARE_GOAL = 5.0, 1.5
SECTIONS = {"none": "netpush", "ios": "netpush with IOS latency"}
RUNS = ("project", "bare", "serial")
PORTS = range(18901, 18931)
KEEP_ON_RESET = {"ssh_host_rsa_key"}  # a reset forgets the configuration, not the device's host key
# --latency ios: how long real IOS-class gear takes to answer what a change sends, which the simulator answers at
# once (lab/netdevices/fakeswitch faults.json "delay": the device's one session waits, as on a real switch).
# Conservative figures for a chassis or stack with a core-size configuration: building the running configuration
# takes about a second, writing flash or NVRAM a few seconds, arming the archive for the revert timer a second.
LATENCY = {
    "none": {},
    "ios": {r"^show running-config": 1.0, r"^copy running-config flash:": 2.0,
            r"^(wr(ite)?( mem(ory)?)?|copy running-config startup-config)$": 3.0,
            r"^configure terminal revert timer": 1.0, r"^configure confirm": 0.5, r"^configure replace": 5.0,
            r"^show (version|interfaces|vlan|lldp)": 0.3},
}

IOS = netdev.VENDORS["cisco"]


# --- the bench switches ------------------------------------------------------------------------------------
class Switches:
    """The 30 bench switches as lab services (lab/netdevices/fakeswitch), built from the bench inventory."""

    def __init__(self, latency: dict | None = None) -> None:
        self.latency = latency or {}
        inventory = common.load_inventory(INVENTORY)
        hostvars = inventory["_meta"]["hostvars"]
        self.lab = common.Lab(LAB_STATE)
        self.hostvars = {name: hv for name, hv in sorted(hostvars.items()) if hv.get("lab_service") == "fakeswitch"}
        # ansible-inventory --list sorts mappings; the role sees the zones in their file's order.
        zones = yaml.safe_load((INVENTORY / "group_vars" / "all" / "network.yml").read_text())["network_zones"]
        for hv in self.hostvars.values():
            hv["network_zones"] = zones
        self.services = [fakeswitch.Service(name, hv, self.lab) for name, hv in self.hostvars.items()]
        for svc in self.services:
            svc.start_timeout = 180.0  # 30 Python processes starting at once on a small machine
        ports = sorted(svc.port for svc in self.services)
        if ports != list(PORTS):
            raise SystemExit(f"bench: {INVENTORY.relative_to(ROOT)} must hold 30 switches on ports 18901-18930, "
                             f"not {ports}")
        self.known_hosts = LAB_STATE / "netdev" / "known_hosts"
        self.password = common.Lab(LAB).secret("netdev.password")  # the lab's, made as labctl makes it if new

    def side(self, name: str) -> str:
        return str(self.hostvars[name].get("network_pair_side", "a"))

    def check_ports(self) -> None:
        """Every bench port free, or held by one of our own switches (a run that was interrupted)."""
        ours = {svc.port for svc in self.services if svc.pid() is not None}
        busy = [p for p in PORTS if p not in ours and common.port_open("127.0.0.1", p)]
        if busy:
            raise SystemExit(f"bench: 127.0.0.1 port(s) {', '.join(map(str, busy))} already in use by something "
                             "else; the bench switches need 18901-18930")

    def _share_password(self) -> None:
        """The bench switches take the lab's netdev password (the inventory's netdev_password)."""
        path = LAB_STATE / "secrets" / "netdev.password"
        if not path.exists() or path.read_text().strip() != self.password:
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(self.password)
            os.replace(tmp, path)

    def reset(self, services: list | None = None) -> float:
        """Stop every switch (or those given), forget its configuration (saved and on flash), start it again:
        the seed."""
        t0 = time.monotonic()
        services = self.services if services is None else services
        self._share_password()
        with ThreadPoolExecutor(max_workers=10) as pool:
            list(pool.map(lambda svc: svc.stop(), services))
        for svc in services:
            if svc.data_dir.exists():
                for item in svc.data_dir.iterdir():
                    if item.name in KEEP_ON_RESET:
                        continue
                    shutil.rmtree(item) if item.is_dir() and not item.is_symlink() else item.unlink()
            if self.latency:
                svc.data_dir.mkdir(parents=True, exist_ok=True)
                (svc.data_dir / "faults.json").write_text(json.dumps({"delay": self.latency}))
        with ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(lambda svc: svc.start(), services))
        return time.monotonic() - t0

    def cpu(self) -> float:
        """CPU seconds (user + system) the running switch processes have used so far."""
        total = 0
        for svc in self.services:
            pid = svc.pid()
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split() if pid else []
            except OSError:
                fields = []
            total += int(fields[11]) + int(fields[12]) if fields else 0  # utime, stime (fields 14, 15)
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> str:
        with ThreadPoolExecutor(max_workers=10) as pool:
            states = list(pool.map(lambda svc: svc.stop(), self.services))
        return f"{states.count('stopped')} stopped"

    def connect(self, name: str, **extra):
        """A netmiko session to a bench switch, host key checked strictly against the bench's known_hosts."""
        from netmiko import ConnectHandler

        conn = ConnectHandler(device_type="cisco_ios", host="127.0.0.1", port=int(self.hostvars[name]["ansible_port"]),
                              username=str(self.hostvars[name].get("netdev_username", "jinbao-lab")),
                              password=self.password, secret=self.password, ssh_strict=True,
                              system_host_keys=False, alt_host_keys=True, alt_key_file=str(self.known_hosts),
                              **extra)
        conn.enable()
        return conn


# --- the intended configuration ----------------------------------------------------------------------------
def render_intended(hostvars: dict) -> str:
    """roles/network/templates/cisco/core.cfg.j2 with the role's filters, as the role's template lookup does."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE.parent)), trim_blocks=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    # The template calls the collection's filters by their FQCN (jinbao.dc.zone_acls), as the role does.
    env.filters.update({"jinbao.dc.zone_acls": filters.zone_acls, "jinbao.dc.svi_address": filters.svi_address})
    return env.get_template(TEMPLATE.name).render(
        network_zones=hostvars["network_zones"], network_acl_exceptions=hostvars.get("network_acl_exceptions", {}),
        network_svi_host=hostvars["network_svi_host"], network_hsrp_priority=hostvars["network_hsrp_priority"])


def zone_acl_names(hostvars: dict) -> list[str]:
    return sorted(acl["name"] for acl in filters.zone_acls(hostvars["network_zones"],
                                                           hostvars.get("network_acl_exceptions", {})).values())


# --- before the runs ---------------------------------------------------------------------------------------
def _ansible_env(config: Path, operator: str) -> dict[str, str]:
    return dict(os.environ, ANSIBLE_CONFIG=str(config), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                JINBAO_OPERATOR=operator)


def profiled_config() -> Path:
    """PROFILED_CFG: the project's ansible.cfg as it stands, with ansible.posix.profile_tasks enabled beside the
    audit trail, and its relative paths made absolute. The audit sinks stay the project's own, so the run is in the
    official trail and the cert gate admits it (ANSIBLE_CALLBACKS_ENABLED in the environment would stop the run)."""
    parser = configparser.ConfigParser(interpolation=None)
    if not parser.read(ROOT / "ansible.cfg"):
        raise SystemExit(f"bench: {ROOT / 'ansible.cfg'} cannot be read")
    for section in parser.sections():
        for key, value in parser.items(section, raw=True):
            if key in CFG_PATHS:
                parser.set(section, key, os.pathsep.join(str(ROOT / part) for part in value.split(os.pathsep) if part))
    enabled = [c.strip() for c in parser.get("defaults", "callbacks_enabled", fallback="").split(",") if c.strip()]
    parser.set("defaults", "callbacks_enabled", ", ".join([*enabled, "ansible.posix.profile_tasks"]))
    PROFILED_CFG.parent.mkdir(parents=True, exist_ok=True)
    with open(PROFILED_CFG, "w") as fh:
        fh.write(f"# Written by bench/netpush/run.py from {ROOT / 'ansible.cfg'}: the same settings, with\n"
                 "# ansible.posix.profile_tasks enabled and relative paths made absolute. Do not edit.\n")
        parser.write(fh)
    return PROFILED_CFG


# --- the three runs ----------------------------------------------------------------------------------------
# What network.yml prints when its change of the core pair waits for the second person (jinbao.dc.two_person).
APPROVAL_ASKED = re.compile(r"playbooks/approve\.yml -e accessor=(?P<accessor>\S+) -e digest=(?P<digest>[0-9a-f]{64})")


def approve(out: Path, accessor: str, digest: str, timeout: float) -> subprocess.CompletedProcess:
    """The second person of the two-person change: playbooks/approve.yml as the lab's security administrator,
    bound to network.yml on the whole bench inventory (no --limit) and to the digest of the change the run
    printed. Its output goes to <out>/approve.log."""
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(INVENTORY), str(ROOT / "playbooks" / "approve.yml"),
           "-e", f"accessor={accessor}", "-e", f"digest={digest}", "-e", "approve_playbook=network",
           "-e", "approve_limit=all", "-e", f"jinbao_reports_dir={out / 'reports'}"]
    try:
        run = subprocess.run(cmd, cwd=ROOT, env=_ansible_env(ROOT / "ansible.cfg", SECURITY_ADMIN),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        run = subprocess.CompletedProcess(cmd, 124, f"{exc.output or ''}\napprove.yml did not finish within "
                                                     f"{timeout:.0f}s")
    (out / "approve.log").write_text(run.stdout)
    return run


def playbook(label: str, out: Path, extra: list[str], timeout: float) -> tuple[float, str, int, float]:
    """network.yml on the bench inventory (harness.run_playbook always takes inventory/lab) as the lab's system
    administrator, with ansible.posix.profile_tasks (a time stamp per task, nothing else; PROFILED_CFG) to say
    where the time went. When the run asks for the two-person approval of the core pair's change, the bench
    approves it at once, as the lab's security administrator (approve()); an approval that fails stops the run."""
    env = dict(_ansible_env(PROFILED_CFG, SYSTEM_ADMIN), PROFILE_TASKS_TASK_OUTPUT_LIMIT="all",
               PROFILE_TASKS_SORT_ORDER="none")
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(INVENTORY), str(PLAYBOOK),
           "-e", f"jinbao_reports_dir={out / 'reports'}", "-e", f"jinbao_backups_dir={out / 'backups'}", *extra]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    cpu0 = _children_cpu()  # after Popen(), which reaps switches stopped earlier: ansible-playbook's CPU alone
    lines: list[str] = []
    last = ""
    approval: dict[str, subprocess.CompletedProcess] = {}
    second: threading.Thread | None = None

    def second_person(accessor: str, digest: str) -> None:
        approval["run"] = approve(out, accessor, digest, timeout)
        if approval["run"].returncode != 0:
            proc.terminate()  # the run would wait for an approval that does not come

    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("PLAY [") and line != last:
                log(f"  {label}: {line.strip().strip('*').strip()}")
                last = line
            asked = APPROVAL_ASKED.search(line)
            if asked and second is None:  # one approval holds for the whole run, every batch of it
                log(f"  {label}: approving change {asked['digest'][:16]}... of the core pair as {SECURITY_ADMIN}")
                second = threading.Thread(target=second_person, args=(asked["accessor"], asked["digest"]),
                                          daemon=True)
                second.start()
        proc.wait(timeout=max(1.0, timeout - (time.monotonic() - start)))
    except subprocess.TimeoutExpired:
        proc.kill()
        raise SystemExit(f"bench: {label} did not finish within {timeout:.0f}s") from None
    if second is not None:
        second.join(timeout=max(1.0, timeout - (time.monotonic() - start)))
    elapsed = time.monotonic() - start
    cpu = _children_cpu() - cpu0  # with the approver's run, a child of this process too
    output = "".join(lines)
    (out / "ansible.log").write_text(output)
    refused = approval.get("run")
    if refused is not None and refused.returncode != 0:
        output += (f"\n--- playbooks/approve.yml as {SECURITY_ADMIN} failed (exit {refused.returncode}; "
                   f"{(out / 'approve.log').relative_to(ROOT)}) ---\n{refused.stdout[-1500:]}")
    return elapsed, output, proc.returncode, cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bare_script(sw: Switches, out: Path, workers: int) -> tuple[float, float, dict[str, list[str]]]:
    """The baseline: what an engineer would write with netmiko alone. Returns (wall seconds, CPU seconds, lines
    sent per switch)."""
    start, cpu0 = time.monotonic(), time.process_time()
    backups = out / "backups"
    sent: dict[str, list[str]] = {}
    lock = threading.Lock()

    def one(name: str) -> None:
        intended = render_intended(sw.hostvars[name])
        conn = sw.connect(name)
        try:
            running = conn.send_command("show running-config", read_timeout=120)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
            folder = backups / name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{stamp}.cfg").write_text(running)
            (folder / f"{stamp}.cfg.sha256").write_text(f"{hashlib.sha256(running.encode()).hexdigest()}  "
                                                        f"{stamp}.cfg\n")
            lines = netdev.delta(netdev.normalise(running, IOS), intended, IOS, MANAGED)
            if lines:
                output = conn.send_config_set(lines, read_timeout=60)
                if re.search(IOS.error_pattern, output):
                    raise RuntimeError(f"{name}: the device rejected a line:\n{output[-1000:]}")
                after = conn.send_command("show running-config", read_timeout=120)
                left = netdev.delta(netdev.normalise(after, IOS), intended, IOS, MANAGED)
                if left:
                    raise RuntimeError(f"{name}: {len(left)} line(s) still differ after the push: {left[:5]}")
                conn.save_config()
            with lock:
                sent[name] = lines
        finally:
            conn.disconnect()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for side in ("a", "b"):  # the pair discipline of network.yml: every side a, then every side b
            list(pool.map(one, [n for n in sw.hostvars if sw.side(n) == side]))
    return time.monotonic() - start, time.process_time() - cpu0, sent


def project_commands(out: Path, names: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """The lines network.yml sent to each switch (reports/network/changes/), and what is wrong with them."""
    sent, problems = {}, []
    for name in names:
        records = sorted((out / "reports" / "network" / "changes").glob(f"{name}-*.json"))
        if len(records) != 1:
            problems.append(f"{name}: {len(records)} change record(s), not 1")
            continue
        sent[name] = json.loads(records[0].read_text())["commands"]
    return sent, problems


def check_devices(sw: Switches, intended: dict[str, str]) -> list[str]:
    """Untimed: every switch runs the intended configuration (no delta, every zone ACL) and has saved it."""
    problems: list[str] = []

    def one(name: str) -> None:
        try:
            conn = sw.connect(name)
            try:
                running = netdev.normalise(conn.send_command("show running-config", read_timeout=120), IOS)
            finally:
                conn.disconnect()
        except Exception as exc:  # an unreachable switch is a wrong run, reported with the others
            problems.append(f"{name}: cannot read the running configuration ({exc})")
            return
        left = netdev.delta(running, intended[name], IOS, MANAGED)
        missing = [acl for acl in zone_acl_names(sw.hostvars[name])
                   if f"ip access-list extended {acl}" not in running]
        startup = next(s for s in sw.services if s.name == name).data_dir / "startup-config"
        saved = startup.read_text() if startup.exists() else ""
        unsaved = [acl for acl in zone_acl_names(sw.hostvars[name]) if f"ip access-list extended {acl}" not in saved]
        if left or missing or unsaved:
            problems.append(f"{name}: {len(left)} line(s) from the intent ({'; '.join(left[:3])}), ACLs missing "
                            f"{missing or 'none'}, not saved {unsaved or 'none'}")

    with ThreadPoolExecutor(max_workers=10) as pool:
        list(pool.map(one, list(sw.hostvars)))
    return problems


def session_steps(sw: Switches) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """Untimed: one switch from its seed, alone, step by step, (1) through the project's session code
    (plugins/module_utils/seams/netdev.py, as netdev_config_batch calls it: connect() and the confirm timer of the
    role's default) and (2) as the bare script does it. Both lists are (step, seconds)."""
    name, svc = sw.services[0].name, sw.services[0]
    intended = render_intended(sw.hostvars[name])
    steps: list[tuple[str, float]] = []

    def timed(label: str, fn, *a, **kw):
        t0 = time.monotonic()
        result = fn(*a, **kw)
        steps.append((label, time.monotonic() - t0))
        return result

    sw.reset([svc])
    params = {"name": name, "host": "127.0.0.1", "port": svc.port, "device_type": "cisco_ios", "vendor": "cisco",
              "username": sw.hostvars[name].get("netdev_username", "jinbao-lab"), "password": sw.password,
              "secret": sw.password, "known_hosts": str(sw.known_hosts), "confirm_minutes": 5,
              "checkpoint": "jinbao-prechange.cfg"}

    def read_while_arming():  # as configure() does when the latest backup says a change is due
        early = netdev.EarlyRollbackPoint(params, IOS)
        first = netdev.connect(**params)
        return first, netdev.running_config(name, first, IOS), early.take()

    conn, before, armed = timed("connect, show running-config; meanwhile a second session connects and arms the "
                                "revert timer (IOS archives the running configuration: the rollback point)",
                                read_while_arming)
    work = armed[0]
    try:
        lines = timed("delta (hier_config)", netdev.delta, before, intended, IOS, MANAGED)
        timed(f"push the delta ({len(lines)} lines; project: under commit-confirm)", netdev.push, name, work, lines,
              IOS, in_config_mode=True)
        after = timed("show running-config (verify)", netdev.running_config, name, work, IOS)
        timed("delta (verify)", netdev.delta, after, intended, IOS, MANAGED)
        timed("configure confirm", netdev.confirm, name, work, IOS)
        timed("write memory (project: the facts read on the first session meanwhile)",
              netdev._save_reading_facts_aside, params, work, IOS, conn)
    finally:
        work.disconnect()
        conn.disconnect()
    project, steps = steps, []

    sw.reset([svc])
    conn = timed("connect (strict host keys, enable)", sw.connect, name)
    try:
        running = timed("show running-config", conn.send_command, "show running-config", read_timeout=120)
        lines = timed("delta (hier_config)", netdev.delta, netdev.normalise(running, IOS), intended, IOS, MANAGED)
        timed(f"push the delta ({len(lines)} lines; project: under commit-confirm)", conn.send_config_set, lines,
              read_timeout=60)
        after = timed("show running-config (verify)", conn.send_command, "show running-config", read_timeout=120)
        timed("delta (verify)", netdev.delta, netdev.normalise(after, IOS), intended, IOS, MANAGED)
        timed("write memory", conn.save_config)
    finally:
        conn.disconnect()
    return project, steps


def import_cpu() -> float:
    """CPU seconds a fresh Python takes to import what netdev_config imports (netmiko, hier_config)."""
    code = ("import resource, netmiko, hier_config; u = resource.getrusage(resource.RUSAGE_SELF); "
            "print(u.ru_utime + u.ru_stime)")
    return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)


RECAP = re.compile(r"^\S+\s+: ok=(\d+)\s+changed=\d+\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", re.M)


def host_tasks(output: str) -> int:
    """How many host-tasks the run had (ok + unreachable + failed + skipped over every host of PLAY RECAP)."""
    return sum(sum(map(int, m.groups())) for m in RECAP.finditer(output))


# profile_tasks' recap: "<task> ----- 1.23s", the dashes fewer (or none) as the name gets longer.
PROFILE_LINE = re.compile(r"^(?P<task>.+?) -*\s?(?P<secs>\d+\.\d\d)s$")
# Where a playbook run's wall time goes, by task name (profile_tasks: each task's wall time over all its hosts).
CATEGORIES = (
    ("device sessions: the batch change (backup, arm, push, verify, confirm, save, facts; netdev_config_batch)",
     re.compile(r"Change every device of this batch")),
    ("device sessions: backups of the other devices (netdev_backup)", re.compile(r"Back up the running")),
    ("gate and the two policy checks", re.compile(r"^operator_gate|[Pp]olicy|configuration to check|zone-to-zone")),
    ("two-person control: the core pair's change asked, approved (approve.yml, by the bench at once), credential "
     "released", re.compile(r"Two-person control")),
    ("other controller-side tasks (render, argument check, outcome)", re.compile(r".")),
)
STARTUP = "ansible-playbook start-up and between tasks (the rest)"


def breakdown(output: str, elapsed: float) -> dict[str, float]:
    """The run's wall time by CATEGORIES, from profile_tasks' recap; what no task accounts for is STARTUP."""
    recap = output.split("TASKS RECAP", 1)[1] if "TASKS RECAP" in output else ""
    tasks = [(m["task"].strip(), float(m["secs"])) for m in map(PROFILE_LINE.match, recap.splitlines()) if m]
    found = {name: 0.0 for name, _ in CATEGORIES}
    for task, secs in tasks:
        name = next(name for name, pattern in CATEGORIES if pattern.search(task))
        found[name] += secs
    found[STARTUP] = max(0.0, elapsed - sum(found.values()))
    return found


# --- main --------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the three runs (medians)")
    parser.add_argument("--workers", type=int, default=25, help="threads of the bare netmiko script")
    parser.add_argument("--runs", default=",".join(RUNS), help="which runs, of " + ",".join(RUNS))
    parser.add_argument("--timeout", type=float, default=1200, help="seconds allowed for each run")
    parser.add_argument("--no-write", action="store_true", help="do not update docs/BENCHMARKS.md")
    parser.add_argument("--latency", choices=sorted(LATENCY), default="none",
                        help="none: the simulator answers at once; ios: each switch takes as long as IOS-class gear "
                             "to build its configuration and write flash/NVRAM (LATENCY)")
    args = parser.parse_args(argv)
    runs = [r for r in RUNS if r in args.runs.split(",")]
    if not runs or set(args.runs.split(",")) - set(RUNS):
        parser.error(f"--runs: a comma-separated choice of {', '.join(RUNS)}")
    # Stopped with SIGTERM (kill, a CI timeout): unwind, so that `finally` stops the bench switches.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    log(f"lab Vault up with its operators (network.yml is cert-gated, the system administrator's: {SYSTEM_ADMIN}; "
        f"the core pair's change is approved by {SECURITY_ADMIN})")
    lab_operator()
    sw = Switches(LATENCY[args.latency])
    sw.check_ports()
    profiled_config()
    names = list(sw.hostvars)
    intended = {name: render_intended(sw.hostvars[name]) for name in names}
    times: dict[str, list[float]] = {r: [] for r in runs}
    where: dict[str, list[dict[str, float]]] = {r: [] for r in runs}
    cpus: dict[str, list[tuple[float, float]]] = {r: [] for r in runs}  # (controller, switches) CPU seconds
    counted: dict[str, list[int]] = {r: [] for r in runs}  # host-tasks of a playbook run
    sent: dict[str, dict] = {}
    problems: list[str] = []
    try:
        for rnd in range(args.rounds):
            for label in runs:
                took = sw.reset()
                log(f"round {rnd + 1}/{args.rounds} {label}: {len(names)} switches reset to their seed "
                    f"(127.0.0.1:{PORTS[0]}-{PORTS[-1]}) in {took:.1f}s")
                out = STATE / f"{label}-{rnd}"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir(parents=True)
                wrong: list[str] = []
                switch_cpu = sw.cpu()
                if label == "bare":
                    try:
                        elapsed, cpu, lines = bare_script(sw, out, args.workers)
                    except Exception as exc:  # a failed baseline is a wrong run, reported with the others
                        wrong.append(f"the script failed: {exc}")
                        elapsed, cpu, lines = float("nan"), float("nan"), {}
                else:
                    extra = ["-e", "network_batch=1"] if label == "serial" else []
                    elapsed, output, rc, cpu = playbook(label, out, extra, args.timeout)
                    where[label].append(breakdown(output, elapsed))
                    counted[label].append(host_tasks(output))
                    if rc != 0:
                        wrong.append(f"ansible-playbook exit {rc}; see {(out / 'ansible.log').relative_to(ROOT)}:\n"
                                     f"{output[-1500:]}")
                    lines, missing = project_commands(out, names)
                    wrong += missing
                    for name in names:
                        path = out / "reports" / "network" / "intended" / f"{name}.cfg"
                        if not path.exists() or path.read_text().strip() != intended[name].strip():
                            wrong.append(f"{name}: the role's intended configuration is missing or not the one the "
                                         "bench renders")
                times[label].append(elapsed)
                cpus[label].append((cpu, sw.cpu() - switch_cpu))
                wrong += check_devices(sw, intended)
                for name, cmds in lines.items():
                    first = sent.setdefault(name, {"by": f"{label} round {rnd + 1}", "lines": cmds})
                    if cmds != first["lines"]:
                        wrong.append(f"{name}: sent {len(cmds)} line(s), {first['by']} sent {len(first['lines'])} "
                                     "other ones")
                problems += [f"{label}, round {rnd + 1}: {w}" for w in wrong]
                log(f"round {rnd + 1}/{args.rounds} {label:<7} {elapsed:6.1f}s (CPU: controller {cpu:.1f}s, switches "
                    f"{cpus[label][-1][1]:.1f}s); every switch runs and saved the "
                    f"intended configuration, same lines as the other runs: {'yes' if not wrong else 'NO'}")
        log("one switch alone, step by step: the project's session code, then the bare script's (untimed)")
        steps = session_steps(sw)
    finally:
        log(f"stopping the bench switches: {sw.stop()}")

    med = {label: statistics.median(t) for label, t in times.items() if t}
    counts = sorted({len(v["lines"]) for v in sent.values()})
    span = f"{counts[0]}-{counts[-1]}" if len(counts) > 1 else str(counts[0]) if counts else "?"
    speedup = med["serial"] / med["project"] if {"serial", "project"} <= med.keys() else None
    overhead = med["project"] / med["bare"] if {"bare", "project"} <= med.keys() else None
    typical = {label: median_round(where[label], times[label]) for label in runs if where[label]}
    cpu = {label: median_round(cpus[label], times[label]) for label in runs}
    print()
    for label in runs:
        print(f"  {label:<8} {med[label]:7.1f} s   CPU: controller {cpu[label][0]:6.1f} s, switches "
              f"{cpu[label][1]:5.1f} s   (rounds: {', '.join(f'{t:.1f}' for t in times[label])})")
    if speedup is not None:
        print(f"  serial / project  {speedup:5.2f}x  ({'meets' if speedup >= SPEEDUP_GOAL else 'MISSES'} the goal "
              f">= {SPEEDUP_GOAL:.0f}x)")
    if overhead is not None:
        print(f"  project / bare    {overhead:5.2f}x  ({'meets' if overhead <= BARE_GOAL else 'MISSES'} the goal "
              f"<= {BARE_GOAL}x)")
    print(f"  lines sent per switch: {span}; every run right: {'yes' if not problems else 'NO'}")
    for label, parts in typical.items():
        print(f"  where the {label} run's time went:")
        for name, secs in parts.items():
            print(f"    {secs:6.1f}s  {name}")
    for label, session in zip(("the project's session (netdev_config)", "the bare script's session"), steps,
                              strict=True):
        print(f"  {label}, one switch alone: {sum(t for _, t in session):.2f}s")
        for step, secs in session:
            print(f"    {secs:6.2f}s  {step}")
    for problem in problems[:20]:
        print(f"  PROBLEM {problem}")
    if len(problems) > 20:
        print(f"  ... and {len(problems) - 20} more problem(s)")

    if not args.no_write and set(runs) == set(RUNS) and not problems:
        tasks = {label: median_round(counted[label], times[label]) for label in ("project", "serial")}
        text = section(args, times, med, speedup, overhead, span, typical, cpu, tasks, steps, import_cpu())
        update_benchmarks(SECTIONS[args.latency], text)
        log(f"docs/BENCHMARKS.md updated (section: {SECTIONS[args.latency]})")
    elif not args.no_write:
        log("docs/BENCHMARKS.md left alone (not all three runs, or a run was wrong)")
    ok = not problems and (speedup is None or speedup >= SPEEDUP_GOAL) and (overhead is None or overhead <= BARE_GOAL)
    return 0 if ok else 1


def median_round(parts: list, times: list[float]):
    """What was measured in the round whose wall time is the median one (the lower middle of an even count)."""
    order = sorted(range(len(times)), key=lambda i: times[i])
    return parts[order[(len(order) - 1) // 2]]


def wrap(text: str, bullet: bool = False) -> str:
    """One paragraph (or list item) of the section, wrapped like the rest of docs/BENCHMARKS.md."""
    text = " ".join(text.split())
    if bullet:
        return textwrap.fill(text, width=110, initial_indent="- ", subsequent_indent="  ", break_on_hyphens=False)
    return textwrap.fill(text, width=110, break_on_hyphens=False)


def _side_by_side(ours: dict[str, float], theirs: dict[str, float]) -> list[tuple[str, float | None, float | None]]:
    """The two sessions' steps in one list, in the order they ran: a step of both on one row, the bare script's
    own steps where they fall among the shared ones."""
    rows: list[tuple[str, float | None, float | None]] = []
    rest = list(theirs.items())
    for name, secs in ours.items():
        if name in theirs:
            while rest and rest[0][0] != name:
                rows.append((rest[0][0], None, rest.pop(0)[1]))
            rest.pop(0)
        rows.append((name, secs, theirs.get(name)))
    return rows + [(name, None, secs) for name, secs in rest]


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def section(args, times, med, speedup, overhead, span, typical, cpu, tasks, steps, import_cpu) -> str:
    rounds = "1 round" if args.rounds == 1 else f"{args.rounds} rounds, medians"
    verdict = {True: "meets", False: "**misses**"}
    ncpu = os.cpu_count() or 1
    n = len(PORTS)
    project_steps, bare_steps = (dict(session) for session in steps)
    where = typical["project"]
    config, backups, gate, approval = (where[name] for name, _ in CATEGORIES[:4])
    fixed = med["project"] - config - backups
    rows = "\n".join(f"| {name} | {typical['project'][name]:.1f} s | {typical['serial'][name]:.1f} s |"
                     for name in typical["project"])
    session_rows = "\n".join(f"| {name} | {_secs(ours)} | {_secs(theirs)} |"
                              for name, ours, theirs in _side_by_side(project_steps, bare_steps))
    if args.latency == "none":
        device = wrap("""The simulator answers every command at once, so this measures the controller: what the
            playbook costs around the same device work. The next section runs the same benchmark with the switches
            taking as long as real gear.""")
    else:
        delays = ", ".join(f"`{k}` {v:g} s" for k, v in LATENCY[args.latency].items())
        device = wrap(f"""Each switch takes as long as IOS-class gear to answer what a change sends (bench/netpush
            LATENCY[{args.latency!r}], lab/netdevices/fakeswitch faults.json `delay`: {delays}); the simulator
            itself answers at once. The wait holds up the session that sent the command, not the device's other
            sessions (as on
            real gear, where a show command on another vty line runs while the switch writes NVRAM). Every run
            meets the same devices.""")
    intro = wrap(f"""`make bench-netpush` (bench/netpush/run.py --latency {args.latency}, issue #4): {n} simulated
        Cisco IOS core switches (lab/netdevices/fakeswitch `cisco_generic`, bench-sw-01..{n} on
        127.0.0.1:{PORTS[0]}-{PORTS[-1]}, {n // 2} redundant pairs) taken from their seed (the lab's core pair as
        found) to the core template: {span} lines per switch (VRFs, SVIs moved into their VRF, zone ACLs). Each run
        starts from all switches reset to the seed, with fresh report and backup folders, and is checked afterwards:
        every switch runs and has saved the intended configuration, and all runs sent the same lines. {rounds};
        {machine()}.""")
    rounds_line = wrap(f"""All rounds (s): project {', '.join(f'{t:.1f}' for t in times['project'])}; serial
        {', '.join(f'{t:.1f}' for t in times['serial'])}; bare {', '.join(f'{t:.1f}' for t in times['bare'])}.
        CPU is user + system time: the controller's is ansible-playbook with its forks and modules (and the
        approver's approve.yml run), or the script's own process; the switches' is the {n} simulator
        processes.""")
    runs = wrap(f"""The project, as the lab's system administrator: the cert gate (a cert login to Vault), the
        policy check of the intended configurations, the two-person control of the core pair's change (the run
        asks Vault for the core pair's credential under its control group, bound to the playbook and the
        digest of the intended configurations, and waits; the bench, as {SECURITY_ADMIN}, runs
        `playbooks/approve.yml` at once; Vault releases the credential), then one `netdev_config_batch` task:
        each switch on its own sessions and thread (backup, with the revert
        timer armed on a second session meanwhile (IOS archives the running configuration: the rollback
        point), the delta, verify, confirm, save (the facts read on the first session meanwhile), backup,
        change record), side b of every pair read while side a saves and changed once all of side a is
        saved; then the policy check of the running configurations. The serial loop: the same play with
        one switch per batch (one approval for the run). The bare script (no gate, no Vault: the password from
        the lab's file): one netmiko session per switch on a thread pool, side a then side b: `show
        running-config` to a backup file with its SHA-256, the same delta
        (plugins/module_utils/seams/netdev.py, the same intended configuration), pushed, verified by reading the
        configuration again, `write memory`;
        nothing else.""")
    bullets = "\n".join(wrap(text, bullet=True) for text in (
        f"""The device work of the project's run, the batch change of both sides, takes {config:.1f} s; the serial
        loop spends {typical['serial'][CATEGORIES[0][0]]:.1f} s on the same work, one switch after another. The
        rest of the project's run, {fixed:.1f} s, does not grow with the switches' latency: ansible-playbook
        start-up, the cert gate and the two policy checks ({gate:.1f} s), the two-person approval ({approval:.1f}
        s, with a second person who approves as soon as asked: a real one takes longer), rendering each
        intended configuration, argument checks; the bare script does none of it.""",
        f"""CPU: the project's run takes {cpu['project'][0]:.1f} s of controller CPU in {tasks['project']}
        host-tasks (about {tasks['project'] / n:.1f} per switch), the bare script {cpu['bare'][0]:.1f} s; a fresh
        Python importing netmiko and hier_config alone takes {import_cpu:.2f} s. On {ncpu} CPUs the project's
        floor is {cpu['project'][0] / ncpu:.1f} s of wall time.""",
        """So the ratio to the serial loop grows with the devices' latency (waiting overlaps in a batch and adds
        up in the loop), and the ratio to the bare script shrinks with it (the fixed part stays); on an instant
        simulator both ratios show the controller's cost, on real gear the devices'.""",
    ))
    latency_label = "instant simulator" if args.latency == "none" else f"{args.latency} latency"
    return f"""## {SECTIONS[args.latency]}

{intro}

{device}

| run ({latency_label}) | wall time | CPU: controller | CPU: switches | ratio | goal |
|---|---:|---:|---:|---:|---|
| project: `ansible-playbook -i bench/netpush/inventory playbooks/network.yml` | {med['project']:.1f} s \
| {cpu['project'][0]:.1f} s | {cpu['project'][1]:.1f} s | | |
| serial loop: the same play with `-e network_batch=1` | {med['serial']:.1f} s \
| {cpu['serial'][0]:.1f} s | {cpu['serial'][1]:.1f} s \
| serial / project **{speedup:.2f}x** | >= {SPEEDUP_GOAL:.0f}x: {verdict[speedup >= SPEEDUP_GOAL]} |
| bare netmiko script, {args.workers} threads | {med['bare']:.1f} s | {cpu['bare'][0]:.1f} s | {cpu['bare'][1]:.1f} s \
| project / bare **{overhead:.2f}x** | <= {BARE_GOAL}x: {verdict[overhead <= BARE_GOAL]} |

{rounds_line}

{runs}

Where the playbook runs' time went (ansible.posix.profile_tasks: each task's wall time over all its hosts):

| part | project | serial loop |
|---|---:|---:|
{rows}

One switch alone, from its seed, step by step (untimed, after the runs): the project's session code
(plugins/module_utils/seams/netdev.py as `netdev_config_batch` calls it) and the bare script's.

| step | project session | bare session |
|---|---:|---:|
{session_rows}
| **total** | **{sum(project_steps.values()):.2f} s** | **{sum(bare_steps.values()):.2f} s** |

Where the time goes:

{bullets}

"""


if __name__ == "__main__":
    sys.exit(main())
