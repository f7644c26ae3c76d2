"""The replication exporter: PostgreSQL streaming pairs (with a heartbeat) and data-file feeds between zones."""
