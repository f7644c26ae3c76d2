#!/usr/bin/python
"""Keep one long-running program up as a plain process with a pid file (hosts without systemd, e.g. the lab)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
---
module: monitoring_process
short_description: Run a program as a plain background process with a pid file, idempotently
description:
  - For hosts without systemd (the lab). The process is identified by its pid file and its exact command line,
    so a reused pid is never mistaken for it and never signalled.
  - C(started) starts it when it is not running, or when it runs with another command line (then it is
    restarted); C(restarted) always restarts it; C(stopped) stops it (SIGTERM, then SIGKILL after 10 s).
  - After a start it waits until I(wait_port) accepts connections; a process that exits during the start fails
    the task with the tail of its log.
  - Check mode reports what would happen and does nothing; --diff shows the state before and after.
options:
  name: {description: What the process is (messages only)., type: str, required: true}
  argv: {description: The command line., type: list, elements: str, required: true}
  pid_file: {description: Where the pid is kept., type: path, required: true}
  log_file: {description: Where stdout and stderr go (appended)., type: path, required: true}
  chdir: {description: Working directory., type: path}
  environment: {description: Variables added to the environment., type: dict, default: {}}
  state: {description: Wanted state., type: str, choices: [started, restarted, stopped], default: started}
  wait_host: {description: Host of I(wait_port)., type: str, default: 127.0.0.1}
  wait_port: {description: A TCP port the process listens on when it is up., type: int}
  wait_timeout: {description: Seconds to wait for I(wait_port)., type: float, default: 30}
"""

EXAMPLES = r"""
- name: Run the backup exporter
  monitoring_process:
    name: jinbao-exporter-backup
    argv: [/usr/bin/python3, -m, monitors.backup, --config.file, /etc/jinbao-exporters/backup.yml]
    pid_file: /run/jinbao-exporters/backup.pid
    log_file: /var/log/jinbao-exporters/backup.log
    chdir: /opt/jinbao-dc
    wait_port: 19101
"""

RETURN = r"""
pid: {description: The pid of the running process (none when stopped or in check mode)., type: int, returned: always}
action: {description: What was done - none, started, restarted or stopped., type: str, returned: always}
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def running_pid(pid_file: str, argv: list[str]) -> tuple[int | None, bool]:
    """(pid, same command line as argv) of the process this module started, or (None, False).

    The pid file holds the pid and the command line it was started with; a live pid whose command line is
    not that one is another program that got the pid, so it is never treated (or signalled) as ours.
    """
    try:
        with open(pid_file) as fh:
            pid_line, _, argv_line = fh.read().partition("\n")
        pid, started = int(pid_line.strip()), json.loads(argv_line or "null")
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmdline = [part.decode() for part in fh.read().split(b"\0") if part]
    except (OSError, ValueError):
        return None, False
    if not _alive(pid) or cmdline != started:
        return None, False
    return pid, cmdline == list(argv)


def stop(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])
    except OSError:
        return ""


def start(module: AnsibleModule) -> int:
    p = module.params
    for path in (p["pid_file"], p["log_file"]):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    env = dict(os.environ, **{k: str(v) for k, v in p["environment"].items()})
    with open(p["log_file"], "ab") as log:
        proc = subprocess.Popen(p["argv"], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=p["chdir"], env=env, start_new_session=True, close_fds=True)
    with open(p["pid_file"], "w") as fh:
        fh.write(f"{proc.pid}\n{json.dumps(p['argv'])}\n")
    deadline = time.monotonic() + p["wait_timeout"]
    while p["wait_port"]:
        if proc.poll() is not None:
            module.fail_json(msg=f"{p['name']}: exited with code {proc.returncode} during start; "
                                 f"see {p['log_file']}:\n{tail(p['log_file'])}")
        try:
            with socket.create_connection((p["wait_host"], p["wait_port"]), timeout=0.5):
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop(proc.pid)
            module.fail_json(msg=f"{p['name']}: not listening on {p['wait_host']}:{p['wait_port']} after "
                                 f"{p['wait_timeout']:.0f}s; see {p['log_file']}:\n{tail(p['log_file'])}")
        time.sleep(0.2)
    return proc.pid


def main() -> None:
    module = AnsibleModule(argument_spec={
        "name": {"type": "str", "required": True},
        "argv": {"type": "list", "elements": "str", "required": True},
        "pid_file": {"type": "path", "required": True},
        "log_file": {"type": "path", "required": True},
        "chdir": {"type": "path"},
        "environment": {"type": "dict", "default": {}},
        "state": {"type": "str", "choices": ["started", "restarted", "stopped"], "default": "started"},
        "wait_host": {"type": "str", "default": "127.0.0.1"},
        "wait_port": {"type": "int"},
        "wait_timeout": {"type": "float", "default": 30.0},
    }, supports_check_mode=True)
    p = module.params
    pid, same = running_pid(p["pid_file"], p["argv"])
    before = f"{p['name']}: " + ("not running\n" if pid is None else
                                 f"running ({'same' if same else 'another'} command line)\n")
    if p["state"] == "stopped":
        action = "stopped" if pid is not None else "none"
    elif p["state"] == "restarted" or (pid is not None and not same):
        action = "restarted" if pid is not None else "started"
    else:
        action = "started" if pid is None else "none"
    after = before if action == "none" else f"{p['name']}: " + (
        "not running\n" if action == "stopped" else f"running: {' '.join(p['argv'])}\n")
    result = {"changed": action != "none", "action": action, "pid": pid,
              "diff": {"before": before, "after": after}}
    if module.check_mode or action == "none":
        module.exit_json(**result)
    if pid is not None:
        stop(pid)
        if action == "stopped":
            try:
                os.unlink(p["pid_file"])
            except FileNotFoundError:
                pass
            result["pid"] = None
            module.exit_json(**result)
    result["pid"] = start(module)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
