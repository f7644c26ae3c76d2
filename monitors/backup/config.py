"""The backup exporter's config schema: one target per backup job, of kind `restic` or `jobfile`."""

from __future__ import annotations

from monitors.common.config import exporter_schema

_JOB = {
    "kind": {"enum": ["restic", "jobfile"],
             "description": "restic: read a restic repository (plus its job records, if any); "
                            "jobfile: read only a job-record file written by a wrapper around another tool"},
    "job": {"type": "string", "minLength": 1, "description": "the job's name in records and labels (default: name)"},
    "system": {"type": "string", "minLength": 1, "description": "the business system the data belongs to"},
    "zone": {"enum": ["production", "exchange", "decision", "management"]},
    "schedule_seconds": {"type": "number", "exclusiveMinimum": 0, "description": "how often the job should run"},
    "restore_test_interval_seconds": {"type": "number", "exclusiveMinimum": 0,
                                      "description": "how often a verify or restore test is due"},
    "records_file": {"type": "string", "minLength": 1, "description": "job-record file (JSON lines)"},
    "records_max_bytes": {"type": "integer", "minimum": 4096, "default": 8388608,
                          "description": "read at most this much of the end of the records file"},
    # restic only
    "repository": {"type": "string", "minLength": 1},
    "password_file": {"type": "string", "minLength": 1},
    "restic_binary": {"type": "string", "minLength": 1, "default": "/usr/bin/restic"},
    "snapshot_tags": {"type": "array", "items": {"type": "string", "minLength": 1}, "default": []},
    "snapshot_host": {"type": "string", "minLength": 1},
    "check": {"type": "boolean", "default": False, "description": "run `restic check` on its own interval"},
    "check_interval_seconds": {"type": "number", "minimum": 60, "default": 86400},
    "check_timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "default": 3600},
}

SCHEMA = exporter_schema(_JOB, ["kind", "system", "zone", "schedule_seconds", "restore_test_interval_seconds"])
_target = SCHEMA["properties"]["targets"]["items"]
_target["allOf"] = [
    {"if": {"properties": {"kind": {"const": "restic"}}},
     "then": {"required": ["repository", "password_file"]}},
    {"if": {"properties": {"kind": {"const": "jobfile"}}},
     "then": {"required": ["records_file"]}},
]
