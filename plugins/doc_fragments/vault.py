"""The connection options every Vault module takes (plugins/module_utils/seams/vault.py PUBLIC_ARGS, CONNECTION_ARGS).

`jinbao.dc.vault` is the connection a play sets once (`module_defaults: {group/jinbao.dc.vault: {...}}`);
`jinbao.dc.vault.token` adds the token of the modules that change Vault with one (vault_pki, vault_access).
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  name:
    description: The Vault's inventory name, used in every message.
    type: str
    required: true
  url:
    description: Address of the Vault (HashiCorp Vault or OpenBao), https://host:port (vault_addr).
    type: str
    required: true
  ca_file:
    description: PEM bundle of the CA(s) that sign the Vault's certificate (vault_ca_file); default the system store.
    type: path
  timeout:
    description: Seconds to wait for the connection and for each answer.
    type: float
    default: 30
requirements:
  - hvac
"""

    TOKEN = r"""
options:
  token:
    description: The Vault token to act with (never logged).
    type: str
    required: true
"""
