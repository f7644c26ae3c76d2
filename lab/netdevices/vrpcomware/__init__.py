"""Huawei VRP8 (CloudEngine) and H3C Comware 7 switches that keep their configuration, on fake-switches'
command-processor framework (service.py says why, cli.py cites the vendor documentation it follows)."""
