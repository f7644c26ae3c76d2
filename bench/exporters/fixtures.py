"""What the exporters bench feeds the exporters: job-record files, SNMP agent data, and the config files of
the project's exporters and of Debian's snmp_exporter. Everything is written under .cache/bench/exporters/."""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

import yaml

from lab.snmpsim import devices  # the MIB shapes the lab agents serve

ROOT = Path(__file__).resolve().parents[2]

ZONES = ("production", "exchange", "decision", "management")
DAY = 86400


# --- backup: job-record files (monitors/backup/JOB-RECORDS.md) ------------------------------------------------
def _stamp(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def job_lines(job: str, seed: int, now: float, days: int = 14) -> list[str]:
    """Two weeks of a daily job: one backup a night (every 13th fails), two verifies and one restore test."""
    lines = []
    midnight = now - now % DAY
    for d in range(days, 0, -1):
        start = midnight - d * DAY + 3600 + (seed % 7200)
        took = 600 + (seed * 37 + d * 11) % 3000
        ok = (seed + d) % 13 != 0
        lines.append({"job": job, "tool": "rman", "kind": "backup", "started_at": _stamp(start),
                      "finished_at": _stamp(start + took), "status": "success" if ok else "failed",
                      "bytes": 10_000_000_000 + seed * 1_000_003 if ok else None, "files": 1800 + seed % 400,
                      "message": f"backup set {seed:05d}-{d:02d}" if ok else "RMAN-03009: failure of backup command",
                      "exit_code": 0 if ok else 1})
        if d in (7, 1):
            lines.append({"job": job, "tool": "rman", "kind": "verify", "started_at": _stamp(start + took + 60),
                          "finished_at": _stamp(start + took + 900), "status": "success",
                          "message": "VALIDATE: no corrupt blocks"})
        if d == 3:
            lines.append({"job": job, "tool": "rman", "kind": "restore-test", "started_at": _stamp(start + took),
                          "finished_at": _stamp(start + took + 1800), "status": "success",
                          "message": "restored to the test host, row counts match"})
    return [json.dumps(line, separators=(",", ":")) for line in lines]


def backup_jobs(folder: Path, count: int, now: float) -> list[dict]:
    """`count` job-record files (one per job) and the backup exporter's target entries for them."""
    folder.mkdir(parents=True, exist_ok=True)
    targets = []
    for i in range(count):
        job = f"job-{i:05d}"
        path = folder / f"{job}.jsonl"
        path.write_text("\n".join(job_lines(job, i, now)) + "\n")
        targets.append({"name": job, "kind": "jobfile", "system": f"system-{i % 50:02d}", "zone": ZONES[i % 4],
                        "schedule_seconds": DAY, "restore_test_interval_seconds": 7 * DAY,
                        "records_file": str(path)})
    return targets


def hanging_job(folder: Path) -> dict:
    """A job whose record file is a FIFO with no writer: open() blocks for as long as nobody writes."""
    fifo = folder / "hung-job.jsonl"
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo, 0o600)
    return {"name": "hung-job", "kind": "jobfile", "system": "system-hung", "zone": "production",
            "schedule_seconds": DAY, "restore_test_interval_seconds": 7 * DAY, "records_file": str(fifo)}


def release_fifo(path: Path) -> None:
    """Let every reader blocked in open() of the FIFO go (they read EOF), so no thread stays stuck."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return  # no reader waiting (ENXIO) or gone
    os.close(fd)


# --- environment: EMP probe rows (MG-SNMP-UPS-MIB), as lab/snmpsim/devices.py serves them, 20 per agent --------
def emp_records(host: str, probes: int, seed: int) -> str:
    """snmprec text of an EMP agent with `probes` probes (temperature, humidity, two dry contacts each)."""
    records = devices._system("Eaton Environment Monitoring Probe (EMP) via Network-M2", "1.3.6.1.4.1.705.1",
                              host, "room main")
    for probe in range(1, probes + 1):
        temp = 195 + (seed * 7 + probe * 13) % 90   # 19.5-28.4 °C
        hum = 35 + (seed + probe * 3) % 25           # 35-59 %RH
        config = {1: ("2", str(probe)), 2: ("4", f"{host}-probe-{probe:02d}"), 3: ("2", "5"), 4: ("2", "40"),
                  5: ("2", "2"), 6: ("2", "5"), 7: ("2", "90"), 8: ("2", "5"), 9: ("4", "water-leak rope"),
                  10: ("4", "closed"), 11: ("4", "open"), 12: ("4", "door switch"), 13: ("4", "closed"),
                  14: ("4", "open")}
        sensor = {1: ("2", str(probe)), 2: ("2", "2"), 3: ("2", str(temp)), 4: ("2", "2"), 5: ("2", "2"),
                  6: ("2", str(hum)), 7: ("2", "2"), 8: ("2", "2"), 9: ("2", "2"), 10: ("2", "1")}
        records.update({f"{devices.EMP_CONFIG}.{col}.{probe}": v for col, v in config.items()})
        records.update({f"{devices.EMP_SENSOR}.{col}.{probe}": v for col, v in sensor.items()})
    return devices.render(records)


def sensor_target(name: str, port: int, community_file: Path, probes: int) -> dict:
    return {"name": name, "type": "sensors", "host": "127.0.0.1", "port": port,
            "community_file": str(community_file), "labels": {"room": "main"},
            "contacts": [c for p in range(1, probes + 1) for c in (
                {"probe": p, "input": 1, "kind": "water_leak", "sensor": f"{name}-leak-{p:02d}"},
                {"probe": p, "input": 2, "kind": "door", "sensor": f"{name}-door-{p:02d}"})]}


def write_config(path: Path, targets: list[dict], interval: float, timeout: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"collection": {"interval_seconds": interval, "timeout_seconds": timeout},
                                    "targets": targets}, sort_keys=False))
    return path


class _NoAliases(yaml.SafeDumper):
    """Write shared lists out in full (no &id001 anchors), as a person would write snmp.yml."""

    def ignore_aliases(self, data: object) -> bool:
        return True


# --- Debian's prometheus-snmp-exporter 0.21: a hand-written module (no generator here) --------------------------
def snmp_exporter_config(path: Path, community: str, timeout: float, retries: int) -> Path:
    """snmp.yml (0.21 format: auth inside the module) walking the two EMP subtrees the environment exporter reads,
    with the same values: temperature, humidity and both dry contacts per probe, labelled by the probe's name."""
    name_lookup = [{"labels": ["upsmgEnvironmentIndex"], "labelname": "upsmgConfigSensorName",
                    "oid": f"{devices.EMP_CONFIG}.2", "type": "DisplayString"}]
    index = [{"labelname": "upsmgEnvironmentIndex", "type": "gauge"}]
    columns = {"upsmgEnvironmentComFailure": 2, "upsmgEnvironmentTemperature": 3, "upsmgEnvironmentHumidity": 6,
               "upsmgEnvironmentInput1State": 9, "upsmgEnvironmentInput2State": 10}
    metrics = [{"name": name, "oid": f"{devices.EMP_SENSOR}.{col}", "type": "gauge", "indexes": index,
                "lookups": name_lookup, "help": f"MG-SNMP-UPS-MIB {name}"} for name, col in columns.items()]
    module = {"walk": [devices.EMP_CONFIG, devices.EMP_SENSOR], "metrics": metrics, "version": 2,
              "max_repetitions": 25, "retries": retries, "timeout": f"{timeout:g}s",
              "auth": {"community": community}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.dump({"jinbao_emp": module}, Dumper=_NoAliases, sort_keys=False))
    os.chmod(path, 0o600)
    return path
