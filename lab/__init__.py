"""The simulated facility (`python -m lab.labctl ...` from the repository root): one Service class per kind of
system in lab/<kind>/service.py (network devices in lab/netdevices/), the framework in lab/common.py."""
