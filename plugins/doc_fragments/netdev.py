"""The connection options every netdev_* module takes (plugins/module_utils/seams/netdev.py CONNECTION_ARGS)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  name:
    description: The device's inventory name, used in every message.
    type: str
    required: true
  host:
    description: Address of the device's SSH service.
    type: str
    required: true
  port:
    description: SSH port.
    type: int
    default: 22
  device_type:
    description: The netmiko device type (netdev_device_type), e.g. cisco_ios, arista_eos, huawei, hp_comware.
    type: str
    required: true
  vendor:
    description: The platform family (netdev_vendor) - cisco, arista, huawei, h3c or cisco_asa.
    type: str
    required: true
  username:
    description: User to log in as.
    type: str
    required: true
  password:
    description: Password of I(username).
    type: str
    required: true
  secret:
    description: The enable secret, where the platform has enable.
    type: str
  known_hosts:
    description: The known_hosts file the device's SSH host key is checked against (strictly; no trust on first use).
    type: path
    required: true
  timeout:
    description: Seconds to wait for the connection and for each answer.
    type: float
    default: 20
  retries:
    description:
      - Connection attempts when the device does not answer.
      - A refused login or a wrong host key is never retried.
    type: int
    default: 2
  fast_cli:
    description:
      - netmiko's fast_cli (netdev_fast_cli) - read each answer as soon as the prompt is back instead of
        waiting out netmiko's fixed delays (about half a second per command).
      - Turn it off for a device whose answers arrive in pieces with pauses between them (the lab's FakeNOS
        devices; an H3C answered C(display version) with nothing otherwise).
    type: bool
    default: true
requirements:
  - netmiko
"""
