"""The command line every exporter shares: `python -m monitors.<exporter> --config.file X ...`.

SIGTERM/SIGINT stop cleanly; SIGHUP reloads the config file (a new file that does not validate is logged
and the running config is kept). --check-config validates and exits; --once collects once and prints the
exposition.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Iterable

from prometheus_client import generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import CollectorRegistry

from monitors.common.collection import BackgroundCollector, targets_from_config
from monitors.common.config import ConfigError, load_config
from monitors.common.exposition import ExpositionCache
from monitors.common.logs import FORMATS, LEVELS, setup_logging
from monitors.common.server import parse_listen_address, serve

# Lab/default ports (monitors/CONTRACT.md); a site sets --web.listen-address explicitly.
DEFAULT_PORTS = {"backup": 19101, "replication": 19102, "environment": 19103, "pki": 19104}


class _Current:
    """The registry's one collector: delegates to the collector of the config in force (swapped on SIGHUP)."""

    def __init__(self, collector: BackgroundCollector) -> None:
        self.collector = collector

    def describe(self) -> Iterable[Metric]:
        return self.collector.describe()

    def collect(self) -> Iterable[Metric]:
        return self.collector.collect()


def _parser(exporter: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m monitors.{exporter}",
                                     description=f"jinbao {exporter} exporter for Prometheus")
    parser.add_argument("--config.file", dest="config_file", required=True, help="YAML config file")
    parser.add_argument("--web.listen-address", dest="listen",
                        default=f"127.0.0.1:{DEFAULT_PORTS.get(exporter, 9100)}", help="HOST:PORT to serve /metrics")
    parser.add_argument("--log.level", dest="log_level", choices=LEVELS, default="info")
    parser.add_argument("--log.format", dest="log_format", choices=FORMATS, default="json")
    parser.add_argument("--check-config", action="store_true", help="validate the config file and exit")
    parser.add_argument("--once", action="store_true", help="collect every target once, print the exposition, exit")
    return parser


def run(exporter_name: str, collector_class: type[BackgroundCollector], schema: dict,
        argv: list[str] | None = None) -> int:
    """Run one exporter; returns the process exit code (0 ok, 2 bad config or arguments)."""
    args = _parser(exporter_name).parse_args(argv)
    setup_logging(exporter_name, args.log_level, args.log_format)
    log = logging.getLogger(f"monitors.{exporter_name}")
    try:
        config = load_config(args.config_file, schema)
    except ConfigError as exc:
        print(f"{exporter_name}: invalid config:\n{exc}", file=sys.stderr)
        return 2
    if args.check_config:
        print(f"{args.config_file}: valid ({len(config['targets'])} targets)")
        return 0
    collector = collector_class(targets_from_config(config), config)
    registry = CollectorRegistry(auto_describe=True)
    current = _Current(collector)
    registry.register(current)
    if args.once:
        collector.collect_now()
        sys.stdout.write(generate_latest(registry).decode())
        return 0
    cache = ExpositionCache(lambda: current.collector)
    try:
        host, port = parse_listen_address(args.listen)
        cache.rebuild()
        server, _thread = serve(cache, host, port, config.get("tls"), args.config_file)
    except (ValueError, ConfigError) as exc:
        print(f"{exporter_name}: {exc}", file=sys.stderr)
        return 2
    stop, reload = threading.Event(), threading.Event()
    _install_signals(stop, reload)
    collector.start()
    cache.start()
    log.info(f"serving {'https' if config.get('tls') else 'http'}://{args.listen}/metrics for "
             f"{len(collector.targets)} targets from {args.config_file}")
    try:
        while not stop.is_set():
            stop.wait(0.5)
            if reload.is_set():
                reload.clear()
                current.collector, config = _reload(args.config_file, schema, collector_class, current.collector,
                                                    config, log)
    finally:
        cache.stop()
        current.collector.stop()
        server.shutdown()
        log.info("stopped")
    return 0


def _install_signals(stop: threading.Event, reload: threading.Event) -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread (e.g. run() inside a test)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: reload.set())


def _reload(path: str, schema: dict, collector_class: type[BackgroundCollector], old: BackgroundCollector,
            old_config: dict, log: logging.Logger) -> tuple[BackgroundCollector, dict]:
    """A new collector for the re-read config, or the old one when the new file is invalid."""
    try:
        config = load_config(path, schema)
    except ConfigError as exc:
        log.error(f"reload refused, keeping the running config: {exc}")
        return old, old_config
    if config.get("tls") != old_config.get("tls"):
        log.warning("the tls section changed; it takes effect at the next restart, not on reload")
    new = collector_class(targets_from_config(config), config)
    new.adopt(old)
    new.start()
    old.stop(timeout=1.0)
    log.info(f"config reloaded from {path}: {len(new.targets)} targets")
    return new, config
