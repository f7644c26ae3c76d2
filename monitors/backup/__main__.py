"""python -m monitors.backup --config.file backup.yml [--web.listen-address 127.0.0.1:19101]"""

import sys

from monitors.backup.collector import BackupCollector
from monitors.backup.config import SCHEMA
from monitors.common.cli import run

if __name__ == "__main__":
    sys.exit(run("backup", BackupCollector, SCHEMA))
