"""python -m monitors.backup --config.file backup.yml [--web.listen-address 127.0.0.1:19101]

Installed (monitors/pyproject.toml), the same runs as the console script `jinbao-backup-exporter`.
"""

from __future__ import annotations

import sys

from monitors.backup.collector import BackupCollector
from monitors.backup.config import SCHEMA
from monitors.common.cli import run


def main(argv: list[str] | None = None) -> int:
    return run("backup", BackupCollector, SCHEMA, argv)


if __name__ == "__main__":
    sys.exit(main())
