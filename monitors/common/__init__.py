"""What every jinbao exporter shares: config (YAML + JSON Schema), background collection, HTTP/TLS serving,
structured logs and the command line (see monitors/CONTRACT.md for the API the exporters code against)."""

from monitors.common.collection import BackgroundCollector, Target, targets_from_config
from monitors.common.config import ConfigError, exporter_schema, load_config

__all__ = ["BackgroundCollector", "ConfigError", "Target", "exporter_schema", "load_config", "targets_from_config"]
