"""The pki exporter's config file: certificate sources (PEM files by glob) and CRLs; see example.yml."""

from __future__ import annotations

from monitors.common.config import exporter_schema

TARGET_PROPERTIES: dict = {
    "type": {"enum": ["files", "crl"],
             "description": "files: PEM certificates by glob; crl: a certificate revocation list (URL or file)"},
    "path": {"type": "string", "minLength": 1,
             "description": "files: a glob of PEM files, e.g. .pki/services/*/*.crt (relative to the working dir)"},
    "kind": {"enum": ["operator", "service", "ca"], "description": "files: what the certificates are"},
    "include_chain": {"type": "boolean", "default": False,
                      "description": "files: also expose the CA certificates after the first one in each file "
                                     "(kind ca)"},
    "url": {"type": "string", "pattern": "^https?://", "description": "crl: where to fetch the CRL (PEM or DER)"},
    "file": {"type": "string", "minLength": 1, "description": "crl: a local CRL file (PEM or DER)"},
    "ca_file": {"type": "string", "minLength": 1, "description": "crl: the CA bundle that verifies the https URL"},
}

SCHEMA = exporter_schema(TARGET_PROPERTIES, ["type"])
SCHEMA["properties"]["targets"]["items"]["allOf"] = [
    {"if": {"properties": {"type": {"const": "files"}}}, "then": {"required": ["path", "kind"]}},
    {"if": {"properties": {"type": {"const": "crl"}}},
     "then": {"oneOf": [{"required": ["url"]}, {"required": ["file"]}]}},
]
