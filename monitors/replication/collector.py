"""ReplicationCollector: one target per PostgreSQL pair (type `postgres`) or data-file feed (type `feed`).

postgres: when the primary cannot be read the target is down (up 0, its families dropped). When the primary
answers but the standby does not, the target stays up (the primary's view is authoritative) and says so
honestly: replica_streaming comes from the primary (0 when no walsender streams), wal_receiver_streaming and
standby_up are 0, and heartbeat_age_seconds keeps growing from the last heartbeat the standby was seen with
(+Inf if it was never seen since the exporter started). So ReplicaDown and ReplicationHeartbeatStale fire.

feed: see monitors/replication/feeds.py. A feed whose directories cannot be read is down (up 0).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily, Metric

from monitors.common.collection import BackgroundCollector, Target
from monitors.replication.feeds import FeedError, HashCache, direction_allowed, read_feed
from monitors.replication.postgres import LAG_KINDS, PairReading, read_pair

P = "jinbao_replication"


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{P}_{name}", doc, labels=labels or [])


class ReplicationCollector(BackgroundCollector):
    exporter = "replication"

    def __init__(self, targets: list[Target], config: dict | None = None, clock: Callable[[], float] = time.time,
                 pair_reader: Callable[[dict, float], PairReading] = read_pair) -> None:
        super().__init__([_with_identity_labels(t) for t in targets], config, clock)
        self.pair_reader = pair_reader
        self._memory_lock = threading.Lock()
        self._heartbeat_seen: dict[str, float] = {}  # target -> newest heartbeat seen on the standby
        self._standby_errors: dict[str, str] = {}
        self._hash_caches: dict[str, HashCache] = {
            t.name: HashCache(float(t.spec.get("checksum_recheck_seconds", 3600))) for t in self.targets}

    def probe(self, target: Target) -> list[Metric]:
        if target.spec.get("type") == "feed":
            return self._probe_feed(target)
        return self._probe_postgres(target)

    # --- PostgreSQL pairs ---------------------------------------------------------------------------------
    def _probe_postgres(self, target: Target) -> list[Metric]:
        spec = target.spec
        reading = self.pair_reader(spec, target.timeout)
        now = self.clock()
        self._note_standby(target, reading)
        with self._memory_lock:
            if reading.standby_heartbeat is not None:  # what the standby has now, even if older than before
                self._heartbeat_seen[target.name] = reading.standby_heartbeat
            seen = self._heartbeat_seen.get(target.name)  # unreadable standby: the last one it was seen with
        streaming = any(r.state == "streaming" for r in reading.replicas)
        fams = {
            "streaming": _gauge("replica_streaming",
                                "1 when the primary's pg_stat_replication shows the standby streaming, else 0."),
            "lag_bytes": _gauge("lag_bytes", "WAL bytes between the primary's current position and the standby's "
                                             "write/flush/replay position (worst standby).", ["kind"]),
            "lag_seconds": _gauge("lag_seconds", "The primary's measured write/flush/replay lag of the standby "
                                                 "(0 when caught up; worst standby).", ["kind"]),
            "receiver": _gauge("wal_receiver_streaming",
                               "1 when the standby's pg_stat_wal_receiver status is streaming, else 0."),
            "standby_up": _gauge("standby_up", "1 when the exporter could read the standby, else 0."),
            "heartbeat": _gauge("heartbeat_age_seconds",
                                "Seconds since the newest heartbeat the standby has was written on the primary "
                                "(+Inf: not seen since the exporter started)."),
            "rpo": _gauge("rpo_seconds", "The recovery point objective declared for the system."),
        }
        fams["streaming"].add_metric([], 1.0 if streaming else 0.0)
        if reading.replicas:
            for kind in LAG_KINDS:
                fams["lag_bytes"].add_metric([kind], _worst(r.lag_bytes[kind] for r in reading.replicas))
                fams["lag_seconds"].add_metric([kind], _worst(r.lag_seconds[kind] for r in reading.replicas))
        fams["receiver"].add_metric([], 1.0 if reading.wal_receiver_status == "streaming" else 0.0)
        fams["standby_up"].add_metric([], 1.0 if reading.standby_up else 0.0)
        fams["heartbeat"].add_metric([], max(0.0, now - seen) if seen is not None else math.inf)
        fams["rpo"].add_metric([], float(spec["rpo_seconds"]))
        return list(fams.values())

    def _note_standby(self, target: Target, reading: PairReading) -> None:
        """Log a standby failure once when it starts, and once when it clears."""
        with self._memory_lock:
            before = self._standby_errors.get(target.name, "")
            self._standby_errors[target.name] = reading.standby_error
        if reading.standby_error and reading.standby_error != before:
            self.log.warning(f"{reading.standby_error}; reporting the standby as not streaming",
                             extra={"target": target.name})
        elif before and not reading.standby_error:
            self.log.info("standby readable again", extra={"target": target.name})

    # --- data-file feeds ----------------------------------------------------------------------------------
    def _probe_feed(self, target: Target) -> list[Metric]:
        spec = target.spec
        feed = spec.get("feed") or target.name
        source, destination = self._feed_dir(spec, "source_dir", feed), self._feed_dir(spec, "destination_dir", feed)
        reading = read_feed(source, destination, spec.get("checksum_manifest", "MANIFEST.sha256"), feed,
                            self._hash_caches[target.name])
        allowed = (self.config.get("flow_policy") or {}).get("allowed") or []
        fams = [
            ("feed_last_transfer_timestamp_seconds", "When the newest delivered file of the feed arrived "
             "(mtime at the destination, Unix time; 0 = never).", reading.last_transfer),
            ("feed_schedule_seconds", "How often the feed is declared to move.", float(spec["schedule_seconds"])),
            ("feed_pending_files", "Files the source manifest lists that are not delivered yet.",
             reading.pending_files),
            ("feed_checksum_mismatches", "Files the destination manifest lists that are missing or whose SHA-256 "
             "differs.", reading.checksum_mismatches),
            ("feed_direction_allowed", "1 when the zone flow policy allows source_zone -> destination_zone, else 0.",
             1.0 if direction_allowed(spec["source_zone"], spec["destination_zone"], allowed) else 0.0),
        ]
        out: list[Metric] = []
        for name, doc, value in fams:
            fam = _gauge(name, doc)
            fam.add_metric([], float(value))
            out.append(fam)
        files = _gauge("feed_files", "Data files in the feed's source or destination directory.", ["side"])
        files.add_metric(["source"], float(reading.source_files))
        files.add_metric(["destination"], float(reading.destination_files))
        out.insert(1, files)
        if reading.invalid_manifest_lines:
            self.log.debug(f"feed {feed}: {reading.invalid_manifest_lines} manifest line(s) ignored (not "
                           "`<sha256>  <name>`)", extra={"target": target.name})
        return out

    def _feed_dir(self, spec: dict, key: str, feed: str) -> Path:
        path = Path(spec[key])
        if path.is_absolute():
            return path
        root = self.config.get("feeds_root")
        if not root:
            raise FeedError(f"feed {feed}: {key} {spec[key]!r} is relative but the config has no feeds_root; "
                            "set feeds_root (the feed agent's data root) or give an absolute path")
        return Path(root) / path


def _worst(values) -> float:
    """The largest known value; unknown (NULL: nothing to measure, e.g. caught up and idle) counts as 0."""
    return max((v for v in values if v is not None), default=0.0)


def _with_identity_labels(target: Target) -> Target:
    """The labels that identify a target in every series, up included: system and zone for a pair;
    feed, system, source_zone and destination_zone for a feed (explicit `labels:` in the config win)."""
    spec = target.spec
    if spec.get("type") == "feed":
        ident = {"feed": spec.get("feed") or target.name, "system": spec.get("system", ""),
                 "source_zone": spec.get("source_zone", ""), "destination_zone": spec.get("destination_zone", "")}
    else:
        ident = {"system": spec.get("system", ""), "zone": spec.get("zone", "")}
    return replace(target, labels={**ident, **target.labels})
