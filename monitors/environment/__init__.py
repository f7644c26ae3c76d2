"""The environment exporter: the machine room's UPSes, room sensors and rack PDUs over SNMP."""
