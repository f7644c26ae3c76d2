"""Huawei VRP, H3C Comware and Cisco ASA devices on FakeNOS 1.2.1."""
