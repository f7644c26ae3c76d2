"""Structured logs: one JSON object per line (time, level, exporter, target, msg), or plain text."""

from __future__ import annotations

import datetime
import logging
import sys
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("json", "text")


class _Fields(logging.Filter):
    """Give every record the fields the formats use: time (RFC 3339 UTC), exporter, target."""

    def __init__(self, exporter: str) -> None:
        super().__init__()
        self.exporter = exporter

    def filter(self, record: logging.LogRecord) -> bool:
        record.time = (datetime.datetime.fromtimestamp(record.created, datetime.UTC)
                       .isoformat(timespec="milliseconds").replace("+00:00", "Z"))
        if not getattr(record, "exporter", None):
            record.exporter = self.exporter
        if not hasattr(record, "target"):
            record.target = ""
        return True


def setup_logging(exporter: str, level: str = "info", fmt: str = "json", stream: TextIO | None = None) -> None:
    """Route the `monitors` loggers to `stream` (stderr) in the chosen format and level."""
    if level not in LEVELS:
        raise ValueError(f"--log.level {level!r}: use one of {', '.join(LEVELS)}")
    if fmt not in FORMATS:
        raise ValueError(f"--log.format {fmt!r}: use one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_Fields(exporter))
    if fmt == "json":
        handler.setFormatter(JsonFormatter("%(time)s %(levelname)s %(exporter)s %(target)s %(message)s",
                                           rename_fields={"levelname": "level", "message": "msg"}))
    else:
        handler.setFormatter(logging.Formatter("%(time)s %(levelname)-7s %(exporter)s %(target)s %(message)s"))
    root = logging.getLogger("monitors")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
