# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Facility credentials from Vault, read with the run's operator session (the cert gate's token)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: credential
short_description: Read a facility credential from Vault's KV v2 with the run's operator session
description:
  - Reads C(<mount>/data/<path>) from Vault (OpenBao or HashiCorp Vault) with the token the cert gate
    (M(jinbao.dc.operator_gate)) obtained by the operator's client certificate in this run. The token is held
    in memory only; no variable, file or environment variable can supply it.
  - Without an admitted operator (a run that skipped the gate with --limit, --start-at-task or a playbook of
    one's own) the lookup fails, and the role that needs the credential fails closed before it touches a device.
  - What the token may read is decided by the operator's duty in Vault (its policy), not by anything in the
    run. Every read is in Vault's audit log with the certificate's CN and serial.
  - Many paths in one call (a batch of devices) are read on up to 8 threads; the values come back in order.
  - See docs/SECURITY.md for the layout (facility/<room>/<system>/<name>).
options:
  _terms:
    description: The credential's path below the KV mount, e.g. C(facility/main/vcenter/vc-central).
    required: true
    type: list
    elements: str
  key:
    description: Return this field of the secret instead of the whole secret.
    type: str
  mount:
    description: The KV v2 mount.
    type: str
    default: jinbao
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
vcenter_password: "{{ lookup('jinbao.dc.credential', 'facility/main/vcenter/vc-central', key='password') }}"
"""

RETURN = r"""
_raw:
  description: The secret's data (a dict), or the one field asked for with C(key).
  type: list
"""

import threading
from concurrent.futures import ThreadPoolExecutor

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

from ansible_collections.jinbao.dc.plugins.module_utils.pki import session
from ansible_collections.jinbao.dc.plugins.module_utils.seams.vault import VaultError, kv_read, session_client

WORKERS = 8
NO_SESSION = ("no operator session in this run: {what} is read only after the cert gate (jinbao.dc.operator_gate) "
              "has admitted the operator by their certificate; a run that skips the gate (--limit, "
              "--start-at-task, a playbook of one's own) fails here, before any device is touched")


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        held = session.get()
        if not held:
            raise AnsibleError(NO_SESSION.format(what=", ".join(terms) or "a credential"))
        mount, key = self.get_option("mount"), self.get_option("key")
        paths = [str(path).strip("/") for path in terms]
        local = threading.local()

        def read(path: str) -> dict:
            approved = session.approved(f"{mount}/data/{path}")
            if approved is not None:
                return approved
            if not hasattr(local, "client"):  # one HTTP session per thread
                local.client = session_client(held)
            return kv_read(held["vault"], local.client, path, mount)

        try:  # many credentials (a batch of devices) are read on a few threads, in order
            with ThreadPoolExecutor(max_workers=min(WORKERS, max(1, len(paths)))) as pool:
                found = list(pool.map(read, paths))
        except VaultError as exc:
            raise AnsibleError(f"credential: {exc}") from None
        values = []
        for path, data in zip(paths, found, strict=True):
            if key is not None:
                if key not in data:
                    raise AnsibleError(f"credential: {mount}/{path}: has no field {key!r} (it has "
                                       f"{', '.join(sorted(data)) or 'nothing'})")
                values.append(data[key])
            else:
                values.append(data)
        return values
