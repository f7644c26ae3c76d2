"""The backup exporter: restic repositories and generic job-record files (see JOB-RECORDS.md)."""
