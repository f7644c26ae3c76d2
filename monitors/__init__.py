"""jinbao-dc monitors: Prometheus exporters for backups, replication, the machine room and the PKI.

Deployable on its own (no Ansible imports). Each exporter runs as `python -m monitors.<exporter>`;
monitors/common holds what they share: config validation, background collection, HTTP/TLS serving,
structured logs and the command line. See monitors/README.md.
"""
