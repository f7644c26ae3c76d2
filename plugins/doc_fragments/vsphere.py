"""The connection options every vsphere_* module takes (plugins/module_utils/seams/vsphere.py CONNECTION_ARGS)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  name:
    description: The vCenter's inventory name, used in every message.
    type: str
    required: true
  hostname:
    description: Address of the vCenter.
    type: str
    required: true
  port:
    description: HTTPS port of the vCenter SDK.
    type: int
    default: 443
  username:
    description: User to log in as.
    type: str
    required: true
  password:
    description: Password of I(username).
    type: str
    required: true
  validate_certs:
    description: Verify the server certificate (against I(ca_file), or the system store when it is unset).
    type: bool
    default: true
  ca_file:
    description: PEM bundle of the CA(s) that sign the vCenter's certificate.
    type: path
  timeout:
    description: Seconds to wait for the connection and for each answer.
    type: float
    default: 30
requirements:
  - pyvmomi
"""
