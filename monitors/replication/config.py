"""The replication exporter's config schema: targets of type `postgres` (a primary/standby pair) or `feed`
(a data-file feed between two directories), and the zone flow policy the feeds are checked against."""

from __future__ import annotations

from monitors.common.config import exporter_schema

ZONES = ["production", "exchange", "decision", "management"]
_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$"
_FILE_NAME = r"^[^/\x00]+$"

_TARGET = {
    "type": {"enum": ["postgres", "feed"],
             "description": "postgres: a streaming primary/standby pair; feed: a data-file feed between two dirs"},
    "system": {"type": "string", "minLength": 1, "description": "the business system (facility_systems)"},
    # postgres
    "zone": {"enum": ZONES, "description": "postgres: the zone the database serves"},
    "primary_dsn": {"type": "string", "minLength": 1,
                    "description": "libpq conninfo of the primary, without a password (use passfile)"},
    "standby_dsn": {"type": "string", "minLength": 1,
                    "description": "libpq conninfo of the standby, without a password (use passfile)"},
    "passfile": {"type": "string", "minLength": 1, "description": "libpq passfile (.pgpass format) for both"},
    "rpo_seconds": {"type": "number", "exclusiveMinimum": 0, "description": "the system's declared RPO"},
    "standby_application_name": {"type": "string", "minLength": 1,
                                 "description": "the standby's row in the primary's pg_stat_replication "
                                                "(default: every row counts)"},
    "heartbeat_table": {"type": "string", "pattern": _IDENTIFIER, "default": "jinbao_heartbeat",
                        "description": "table (id int primary key, ts timestamptz) on the primary"},
    "heartbeat_id": {"type": "integer", "default": 1, "description": "the heartbeat row this exporter writes"},
    "heartbeat_wait_seconds": {"type": "number", "minimum": 0, "maximum": 5, "default": 1,
                               "description": "how long to wait for the standby to replay the new heartbeat"},
    # feed
    "feed": {"type": "string", "minLength": 1, "description": "feed: the feed's name (default: the target name)"},
    "source_zone": {"enum": ZONES},
    "destination_zone": {"enum": ZONES},
    "source_dir": {"type": "string", "minLength": 1, "description": "absolute, or relative to feeds_root"},
    "destination_dir": {"type": "string", "minLength": 1, "description": "absolute, or relative to feeds_root"},
    "schedule_seconds": {"type": "number", "exclusiveMinimum": 0, "description": "how often the feed moves"},
    "checksum_manifest": {"type": "string", "pattern": _FILE_NAME, "default": "MANIFEST.sha256",
                          "description": "sha256sum-format manifest file name, in both directories"},
    "checksum_recheck_seconds": {"type": "number", "minimum": 0, "default": 3600,
                                 "description": "re-hash an unchanged destination file at most this often"},
}

_TOP = {
    "feeds_root": {"type": "string", "minLength": 1,
                   "description": "the feed agent's data root: relative feed directories are resolved against it"},
    "flow_policy": {
        "type": "object",
        "additionalProperties": False,
        "description": "zone pairs data may flow between (rendered from plugins/module_utils/policy/facility.py)",
        "properties": {
            "allowed": {"type": "array", "items": {"type": "array", "prefixItems": [{"enum": ZONES}, {"enum": ZONES}],
                                                   "minItems": 2, "maxItems": 2}},
        },
        "required": ["allowed"],
    },
}

SCHEMA = exporter_schema(_TARGET, ["type", "system"], _TOP)
SCHEMA["properties"]["targets"]["items"]["allOf"] = [
    {"if": {"properties": {"type": {"const": "postgres"}}},
     "then": {"required": ["zone", "primary_dsn", "standby_dsn", "rpo_seconds"]}},
    {"if": {"properties": {"type": {"const": "feed"}}},
     "then": {"required": ["source_zone", "destination_zone", "source_dir", "destination_dir", "schedule_seconds"]}},
]
# Feeds are judged against the flow policy, so a config with a feed must carry one.
SCHEMA["if"] = {"properties": {"targets": {"contains": {"properties": {"type": {"const": "feed"}},
                                                        "required": ["type"]}}}}
SCHEMA["then"] = {"required": ["flow_policy"]}
