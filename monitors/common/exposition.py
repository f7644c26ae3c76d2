"""The served exposition, rendered in the background and cached, so a scrape costs a lookup and a write.

A thread rebuilds the bytes every `refresh_seconds` (1 s) from the collector in force
(BackgroundCollector.render: only targets collected since the last rebuild are rendered again). So the
self-metrics' `collection_age_seconds` is the age at the last rebuild, at most about a second old. After a
rebuild that took longer than half the period (the first one of a new format or config, with thousands of
targets), the thread rests as long as the rebuild took, so rebuilding never takes more than half of one CPU.

Formats: whatever prometheus_client's choose_encoder picks for the scrape's Accept header (OpenMetrics for
Prometheus 2.42, text 0.0.4 otherwise), gzip when Accept-Encoding allows it. Text 0.0.4 is always built; any
other format is built from the first rebuild after a client first asks for it, and until then that client gets
text 0.0.4 (Prometheus accepts it). The first gzip ask of a format compresses it in that request; from then on
every rebuild gzips it too.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder, generate_latest, gzip_accepted

from monitors.common.collection import BackgroundCollector
from monitors.common.rendering import Encoder

log = logging.getLogger("monitors.exposition")

GZIP_LEVEL = 1  # fast: a rebuild gzips every wanted format once a second


@dataclass
class _Format:
    encoder: Encoder
    openmetrics: bool
    gzip: bool = False  # a client asked for it gzipped
    plain: bytes | None = None
    zipped: bytes | None = None


class ExpositionCache:
    """Rendered expositions of the collector `source()` returns, rebuilt in the background."""

    def __init__(self, source: Callable[[], BackgroundCollector], refresh_seconds: float = 1.0) -> None:
        self.source = source
        self.refresh_seconds = refresh_seconds
        self.rebuilds = 0
        self.built_at = 0.0  # time.monotonic() of the last rebuild
        self.build_seconds = 0.0  # how long the last rebuild took
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()
        self._formats = {CONTENT_TYPE_PLAIN_0_0_4: _Format(generate_latest, openmetrics=False)}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def rebuild(self) -> None:
        """Render every wanted format now (and gzip those asked for gzipped)."""
        with self._build_lock:
            began = time.monotonic()
            collector = self.source()
            with self._lock:
                wanted = list(self._formats.items())
            for key, fmt in wanted:
                plain = collector.render(key, fmt.encoder, fmt.openmetrics)
                zipped = gzip.compress(plain, compresslevel=GZIP_LEVEL, mtime=0) if fmt.gzip else None
                with self._lock:
                    fmt.plain, fmt.zipped = plain, zipped
            self.rebuilds += 1
            self.built_at = time.monotonic()
            self.build_seconds = self.built_at - began

    def lookup(self, accept: str | None, accept_encoding: str | None) -> tuple[list[tuple[str, str]], bytes]:
        """(headers, body) for one scrape, from the cache; never renders."""
        encoder, content_type = choose_encoder(accept or "")
        zipped = gzip_accepted(accept_encoding or "")
        with self._lock:
            fmt = self._formats.get(content_type)
            if fmt is None:  # first ask: built from the next rebuild; meanwhile text 0.0.4
                self._formats[content_type] = _Format(encoder, content_type.startswith("application/openmetrics"),
                                                      gzip=zipped)
                content_type, fmt = CONTENT_TYPE_PLAIN_0_0_4, self._formats[CONTENT_TYPE_PLAIN_0_0_4]
            elif fmt.plain is None:
                fmt.gzip = fmt.gzip or zipped
                content_type, fmt = CONTENT_TYPE_PLAIN_0_0_4, self._formats[CONTENT_TYPE_PLAIN_0_0_4]
            if zipped and not fmt.gzip:
                fmt.gzip = True
            plain, packed = fmt.plain, fmt.zipped
        if plain is None:
            raise RuntimeError("the exposition cache was never built; call rebuild() or start() first")
        if zipped and packed is None:  # first gzip ask for this format: compress once here, keep it
            packed = gzip.compress(plain, compresslevel=GZIP_LEVEL, mtime=0)
            with self._lock:
                if fmt.plain is plain:
                    fmt.zipped = packed
        if zipped and packed is not None:
            return [("Content-Type", content_type), ("Content-Encoding", "gzip")], packed
        return [("Content-Type", content_type)], plain

    def start(self) -> None:
        """Build once now, then rebuild every refresh_seconds in a daemon thread."""
        self.rebuild()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="exposition-cache")
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        failed = ""
        while True:
            period = max(self.refresh_seconds, 2 * self.build_seconds)
            if self._stopping.wait(max(0.0, period - (time.monotonic() - self.built_at))):
                return
            try:
                self.rebuild()
                failed = ""
            except Exception as exc:  # keep serving the last bytes; say why once per new problem
                if repr(exc) != failed:
                    log.exception("rebuilding the exposition failed; serving the previous one")
                failed = repr(exc)
