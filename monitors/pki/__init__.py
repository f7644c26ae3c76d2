"""The pki exporter: certificate expiry and revocation for service, operator and CA certificates."""
