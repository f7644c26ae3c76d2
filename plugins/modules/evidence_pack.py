#!/usr/bin/python
# Copyright: (c) 2026, jinbao-dc maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collect the auditor's evidence pack for a period: the six rule areas, every claim linked to its evidence."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: evidence_pack
short_description: Collect the evidence of a period by rule area, each claim linked to its record, file or query
description:
  - Reads the audit log and the gate log, Vault's audit logs, the certificate registers, the plan, the wave
    ledgers, the physical-move and decommission records, the network change records, backups and policy checks,
    and the city Prometheus (instant queries evaluated at the period's end), and returns the pack as data for the
    role's templates (roles/evidence), with every file link relative to I(out_dir).
  - Reads only, in check mode too; it never changes anything (changed is always false). The role writes the
    files, so they change only when the evidence does.
  - A section with nothing in the period says so plainly, naming the source it read; a source that cannot be
    read (Prometheus not answering) says so, and no claim is made from it.
options:
  from:
    description: Start of the period, RFC 3339 (2026-12-01T00:00:00Z), or C(run start) (the start of the newest
      recorded run of I(run_playbook)).
    type: str
    required: true
  to:
    description: End of the period, RFC 3339, C(now), or C(run end) (the end of that run; now while it runs).
    type: str
    required: true
  run_playbook:
    description: The playbook whose run C(run start)/C(run end) mean.
    type: str
    default: playbooks/site.yml
  reports_dir:
    description: The reports folder (plan.json, C(waves/), C(physical/), C(network/), C(pki/), C(audit/)).
    type: path
    required: true
  project_dir:
    description: The project root; texts name paths relative to it (default the parent of I(reports_dir)).
    type: path
  out_root:
    description: Where packs are kept; this one goes to C(<out_root>/<from>_<to>) (default C(<reports_dir>/evidence)).
    type: path
  audit_log:
    description: The audit log's current file (default C(<reports_dir>/audit/audit.jsonl)).
    type: path
  audit_sink2:
    description: Its second copy, compared by the integrity check (unset - the primary alone).
    type: path
  gate_log:
    description: The gate's log (default C(<reports_dir>/audit/gate.jsonl)).
    type: path
  vault_audit_logs:
    description:
      - Vault's audit log of each node of the cluster (each node writes what it served while it led); the pack
        reads their union and checks every gated run against it (the cert login by the run's certificate and the
        credential reads made with that login's token).
      - A file that is missing or unreadable is named in the pack and needs attention; it does not stop the pack.
      - Empty - the check is not made, and the pack says so.
    type: list
    elements: path
    default: []
  registers:
    description:
      - Register name (C(operators), C(services)) to its CSV file.
      - Unset - C(operators) and C(services), each at C(<reports_dir>/pki/<name>.csv).
    type: dict
  backups_dir:
    description: The switches' configuration backups (default C(<project_dir>/backups)).
    type: path
  runbooks_dir:
    description: The runbooks (C(policies/), C(alerts/)) the pack links to (default C(<project_dir>/runbooks)).
    type: path
  prometheus_url:
    description: The city Prometheus (http or https, host and port); empty - the Prometheus sections say that none
      is configured.
    type: str
    default: ""
  prometheus_ca_file:
    description: CA bundle of an https Prometheus.
    type: path
  timeout:
    description: Seconds to wait for each Prometheus answer.
    type: float
    default: 10
  envelope:
    description: The room envelopes (MR-1, MR-2), C(temperature_celsius) and C(humidity_ratio), each [low, high].
    type: dict
requirements: []
author: jinbao-dc maintainers (@jinbao-dc)
"""

EXAMPLES = r"""
- name: Collect the evidence of one day
  jinbao.dc.evidence_pack:
    from: "2026-12-01T00:00:00Z"
    to: "2026-12-02T00:00:00Z"
    reports_dir: reports
    prometheus_url: http://127.0.0.1:19090
  register: pack

- name: Collect the evidence of the demo's run (the newest run of site.yml)
  jinbao.dc.evidence_pack:
    from: run start
    to: run end
    reports_dir: reports
"""

RETURN = r"""
pack:
  description: schema, period (from, to, slug, run), prometheus, attention, and areas (key, title, policy link,
    attention, sections with title, rules, source, claims [claim, value, status, evidence links] or statement).
  type: dict
  returned: success
out_dir:
  description: The folder the pack's files belong in (C(<out_root>/<from>_<to>)).
  type: str
  returned: success
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.jinbao.dc.plugins.module_utils.evidence.common import EvidenceError, Where, resolve_period
from ansible_collections.jinbao.dc.plugins.module_utils.evidence.pack import Sources, collect, out_dir_for
from ansible_collections.jinbao.dc.plugins.module_utils.seams.prometheus import Prometheus


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "from": {"type": "str", "required": True},
            "to": {"type": "str", "required": True},
            "run_playbook": {"type": "str", "default": "playbooks/site.yml"},
            "reports_dir": {"type": "path", "required": True},
            "project_dir": {"type": "path"},
            "out_root": {"type": "path"},
            "audit_log": {"type": "path"},
            "audit_sink2": {"type": "path"},
            "gate_log": {"type": "path"},
            "vault_audit_logs": {"type": "list", "elements": "path", "default": []},
            "registers": {"type": "dict"},
            "backups_dir": {"type": "path"},
            "runbooks_dir": {"type": "path"},
            "prometheus_url": {"type": "str", "default": ""},
            "prometheus_ca_file": {"type": "path"},
            "timeout": {"type": "float", "default": 10},
            "envelope": {"type": "dict"},
        },
        supports_check_mode=True,
    )
    p = module.params
    reports = p["reports_dir"]
    root = p["project_dir"] or os.path.dirname(os.path.abspath(reports))
    sources = Sources(reports_dir=reports, audit_log=p["audit_log"] or "", audit_sink2=p["audit_sink2"],
                      gate_log=p["gate_log"] or "", registers=dict(p["registers"] or {}),
                      backups_dir=p["backups_dir"] or os.path.join(root, "backups"),
                      runbooks_dir=p["runbooks_dir"] or os.path.join(root, "runbooks"),
                      vault_audit_logs=list(p["vault_audit_logs"] or []))
    try:
        period = resolve_period(p["from"], p["to"], sources.audit_log, p["run_playbook"])
        envelope = {k: tuple(float(x) for x in v) for k, v in (p["envelope"] or {}).items()}
    except (EvidenceError, TypeError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    out_dir = out_dir_for(p["out_root"] or os.path.join(reports, "evidence"), period)
    prometheus = None
    if p["prometheus_url"]:
        try:
            prometheus = Prometheus(p["prometheus_url"], p["prometheus_ca_file"], p["timeout"])
        except OSError as exc:
            module.fail_json(msg=f"prometheus_ca_file: {p['prometheus_ca_file']} cannot be used ({exc}); point it "
                                 "at the CA bundle that signs the Prometheus certificate")
    try:
        pack = collect(period, sources, Where(out_dir, root), prometheus, envelope)
    except (OSError, ValueError) as exc:
        module.fail_json(msg=f"evidence pack {period.slug}: a source cannot be read ({exc}); fix or move it aside")
    module.exit_json(changed=False, pack=pack, out_dir=out_dir)


if __name__ == "__main__":
    main()
