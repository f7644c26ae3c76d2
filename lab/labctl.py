"""labctl: start, stop and show the simulated facility.

    python lab/labctl.py up     [--inventory inventory/lab] [--only NAME ...]
    python lab/labctl.py down   [--only NAME ...]
    python lab/labctl.py status
    python lab/labctl.py build
    python lab/labctl.py reset  [--only NAME ...]    # stop and forget the state: back to the seed facility
    python lab/labctl.py act NAME ACTION [ARG ...]   # a trigger or fault, e.g. act backup-01 run-backups
    python lab/labctl.py actions                     # what `act` can do, per service

Every inventory host with a `lab_service` variable is one simulated system; that variable names the
folder under lab/ whose service.py provides it. `down` stops only what `up` started, by pid file.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, Lab, LabError, Service, load_inventory


def _service_class(kind: str) -> type[Service]:
    path = ROOT / "lab" / kind / "service.py"
    if not path.exists():
        raise LabError(f"lab_service {kind!r}: there is no {path.relative_to(ROOT)}")
    spec = importlib.util.spec_from_file_location(f"lab_{kind}_service", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Service


def services(inventory: Path, lab: Lab, only: list[str] | None = None) -> list[Service]:
    data = load_inventory(inventory)
    hostvars = data.get("_meta", {}).get("hostvars", {})
    found = []
    for name in sorted(hostvars):
        kind = hostvars[name].get("lab_service")
        if not kind or (only and name not in only and kind not in only):
            continue
        found.append(_service_class(kind)(name, hostvars[name], lab))
    if only and not found:
        raise LabError(f"no lab service matches {', '.join(only)} in {inventory}")
    return found


def stop_deployed(lab: Lab) -> list[tuple[str, str]]:
    """Stop what playbooks started in the lab beside the simulators: the exporters monitoring.yml runs as
    processes (.lab/run/jinbao-exporter-*.pid), so `down` leaves nothing of the lab running. A pid whose
    process is not a monitors exporter any more is never signalled."""
    done = []
    for pid_file in sorted((lab.state_dir / "run").glob("jinbao-exporter-*.pid")):
        name, state = pid_file.stem, "not running"
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])  # the pid, then the command line it ran
            if b"monitors." in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGTERM)
                state = "stopped"
        except (OSError, ValueError):
            pass
        pid_file.unlink(missing_ok=True)
        done.append((name, state))
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labctl", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("up", "down", "status", "build", "reset", "act", "actions"))
    parser.add_argument("words", nargs="*", help="act: NAME ACTION [ARG ...]")
    parser.add_argument("--inventory", default=str(ROOT / "inventory" / "lab"))
    parser.add_argument("--only", nargs="*", help="host names or service kinds to act on")
    args = parser.parse_args(argv)
    lab = Lab()
    try:
        if args.action == "act":
            if len(args.words) < 2:
                raise LabError("act needs a service name and an action: labctl act NAME ACTION [ARG ...]")
            name, action, rest = args.words[0], args.words[1], args.words[2:]
            svcs = services(Path(args.inventory), lab, [name])  # loads only that host's service class
            svcs = [s for s in svcs if s.name == name]
            if not svcs:
                raise LabError(f"no lab service named {name!r} in {args.inventory}")
            if svcs[0].pid() is None:
                raise LabError(f"{name} is not running (make lab-up)")
            print(f"{name}: {svcs[0].act(action, rest)}")
            return 0
        svcs = services(Path(args.inventory), lab, args.only)
        if args.action == "actions":
            for svc in svcs:
                for action, text in sorted(svc.actions.items()):
                    print(f"{svc.name:<20} {action:<22} {text}")
        elif args.action == "build":
            for svc in svcs:
                svc.build()
                print(f"{svc.name:<20} built")
        elif args.action == "up":
            for svc in svcs:
                print(f"{svc.name:<20} {svc.kind:<14} ...", end="", flush=True)
                print(f" {svc.start()}", flush=True)
        elif args.action == "down":
            for svc in reversed(svcs):
                print(f"{svc.name:<20} {svc.kind:<14} {svc.stop()}")
            if not args.only:
                for name, state in stop_deployed(lab):
                    print(f"{name:<20} {'deployed':<14} {state}")
        elif args.action == "reset":
            for svc in reversed(svcs):
                print(f"{svc.name:<20} {svc.kind:<14} {svc.reset()}")
        else:
            bad = 0
            print(f"{'SERVICE':<20} {'KIND':<14} {'STATE':<10} {'PID':>7}  HEALTH")
            for svc in svcs:
                st = svc.status()
                bad += st["state"] != "up"
                print(f"{st['name']:<20} {st['kind']:<14} {st['state']:<10} {st['pid'] or '-':>7}  {st['health']}")
            return 1 if bad else 0
    except LabError as exc:
        print(f"\nlabctl: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
