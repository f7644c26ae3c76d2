"""labctl: start, stop and show the simulated facility. Run from the repository root, as a module:

    python -m lab.labctl up     [--inventory inventory/lab] [--only NAME ...] [--no-bootstrap]
    python -m lab.labctl down   [--only NAME ...]
    python -m lab.labctl status
    python -m lab.labctl build
    python -m lab.labctl reset  [--only NAME ...]    # stop and forget the state: back to the seed facility
    python -m lab.labctl act NAME ACTION [ARG ...]   # a trigger or fault, e.g. act backup-01 run-backups
    python -m lab.labctl actions                     # what `act` can do, per service
    python -m lab.labctl clean                       # remove the lab's runtime dir (/var/lib/jinbao-lab/<hash>)

Every inventory host with a `lab_service` variable is one simulated system; that variable names its kind,
one of KINDS below. `down` stops only what `up` started, by pid file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lab import security
from lab.common import ROOT, Lab, LabError, Service, load_inventory
from lab.feeds.service import Service as FeedAgent
from lab.netdevices.fakenos.service import Service as FakeNosDevice
from lab.netdevices.fakeswitch.service import Service as FakeSwitch
from lab.netdevices.vrpcomware.service import Comware7, Vrp8
from lab.nspawn.service import Service as NspawnMachine
from lab.oncall.service import Service as OncallSink
from lab.openbao.service import Service as OpenBao
from lab.postgres.service import Service as PostgreSQL
from lab.restic.service import Service as ResticServer
from lab.snmpsim.service import Service as SnmpAgent
from lab.sushy.service import Service as RedfishBmc
from lab.vcsim.service import Service as VCenter

# inventory `lab_service` -> the class that runs one such host
KINDS: dict[str, type[Service]] = {
    "fakenos": FakeNosDevice, "fakeswitch": FakeSwitch, "feeds": FeedAgent, "nspawn": NspawnMachine,
    "oncall": OncallSink, "openbao": OpenBao, "postgres": PostgreSQL, "restic": ResticServer,
    "snmpsim": SnmpAgent, "sushy": RedfishBmc, "vcsim": VCenter, "vrp8": Vrp8, "comware7": Comware7,
}


def _service_class(kind: str) -> type[Service]:
    try:
        return KINDS[kind]
    except KeyError:
        raise LabError(f"lab_service {kind!r} is not a lab service kind; known: {', '.join(sorted(KINDS))}") from None


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labctl", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("up", "down", "status", "build", "reset", "act", "actions", "clean"))
    parser.add_argument("words", nargs="*", help="act: NAME ACTION [ARG ...]")
    parser.add_argument("--inventory", default=str(ROOT / "inventory" / "lab"))
    parser.add_argument("--only", nargs="*", help="host names or service kinds to act on")
    parser.add_argument("--no-bootstrap", action="store_true",
                        help="up: start the Vault but leave its security bootstrap (lab/security.py) undone")
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
        if args.action == "clean":
            running = [svc.name for svc in svcs if svc.runs_as and svc.pid() is not None]
            if running:
                raise LabError(f"{', '.join(running)} still running from {lab.runtime_dir}: labctl down first")
            print(lab.forget_runtime_dir())
        elif args.action == "actions":
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
            if any(svc.kind == "openbao" for svc in svcs) and not args.no_bootstrap:
                # The lab's security administration: bootstrap once, credentials, operators (lab/security.py)
                for line in security.ensure(lab, Path(args.inventory), load_inventory(Path(args.inventory))):
                    print(f"{'security':<20} {'':<14} {line}", flush=True)
        elif args.action == "down":
            for svc in reversed(svcs):
                print(f"{svc.name:<20} {svc.kind:<14} {svc.stop()}")
        elif args.action == "reset":
            for svc in reversed(svcs):
                print(f"{svc.name:<20} {svc.kind:<14} {svc.reset()}")
            if not args.only:
                print(f"{'runtime dir':<20} {'':<14} {lab.forget_runtime_dir()}")
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
