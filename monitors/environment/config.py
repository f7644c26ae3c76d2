"""The environment exporter's config file: SNMP targets (UPSes, room sensors, rack PDUs); see example.yml."""

from __future__ import annotations

from monitors.common.config import exporter_schema

TARGET_PROPERTIES: dict = {
    "type": {"enum": ["ups", "sensors", "pdu"],
             "description": "ups: UPS-MIB/XUPS-MIB; sensors: Eaton/MGE EMP probes; pdu: APC rPDU2 metered PDU"},
    "host": {"type": "string", "minLength": 1, "description": "the agent's address"},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 161},
    "community": {"type": "string", "minLength": 1, "description": "SNMP v2c read community"},
    "community_file": {"type": "string", "minLength": 1,
                       "description": "a file holding the community (read at every probe; keeps it out of here)"},
    "snmp_timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "default": 2},
    "snmp_retries": {"type": "integer", "minimum": 0, "maximum": 5, "default": 1},
    "mibs": {"type": "array", "minItems": 1, "uniqueItems": True, "default": ["ups-mib", "xups"],
             "items": {"enum": ["ups-mib", "xups"]},
             "description": "ups only: the MIBs to read, in order of preference"},
    "contacts": {
        "type": "array", "default": [],
        "description": "sensors only: what each EMP dry-contact input is wired to",
        "items": {
            "type": "object", "additionalProperties": False,
            "required": ["probe", "input", "kind", "sensor"],
            "properties": {
                "probe": {"type": "integer", "minimum": 1},
                "input": {"enum": [1, 2]},
                "kind": {"enum": ["water_leak", "smoke", "door"]},
                "sensor": {"type": "string", "minLength": 1},
                "alarm_state": {"enum": ["closed", "open"],
                                "description": "the contact state that means alarm (leak/smoke closed, door open)"},
            },
        },
    },
    "rack": {"type": "string", "minLength": 1, "description": "pdu only: the rack the PDU feeds"},
    "rack_power_budget_watts": {"type": "number", "minimum": 0,
                                "description": "pdu only: the rack's planned power budget (facility_racks)"},
}

SCHEMA = exporter_schema(TARGET_PROPERTIES, ["type", "host"])
SCHEMA["properties"]["targets"]["items"]["allOf"] = [
    {"oneOf": [{"required": ["community"]}, {"required": ["community_file"]}]},
    {"if": {"properties": {"type": {"const": "pdu"}}}, "then": {"required": ["rack"]}},
]
