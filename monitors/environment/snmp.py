"""The exporter's SNMP client: bulk walks of a few subtrees over SNMP v2c (pysnmp 7, asyncio hlapi).

Every request is bounded by the target's SNMP timeout and retries, so a dead agent costs at most
timeout * (retries + 1) per subtree and a probe thread never hangs on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from pyasn1.type import univ
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    bulk_walk_cmd,
)
from pysnmp.proto import rfc1902, rfc1905


class SnmpError(RuntimeError):
    """The agent did not answer, or answered with an error; the message names the agent and the fix."""


def plain(value: object) -> object:
    """A pysnmp value as plain Python: int, str (OCTET STRING, OID) or None (noSuchObject and friends)."""
    if isinstance(value, (rfc1905.NoSuchObject, rfc1905.NoSuchInstance, rfc1905.EndOfMibView, univ.Null)):
        return None
    if isinstance(value, univ.Integer):  # Integer32, Gauge32, Counter32/64, TimeTicks, Unsigned32
        return int(value)
    if isinstance(value, rfc1902.OctetString):
        return bytes(value)
    if isinstance(value, univ.ObjectIdentifier):
        return str(value)
    return value.prettyPrint() if hasattr(value, "prettyPrint") else str(value)


async def _walk(host: str, port: int, community: str, subtrees: Iterable[str], timeout: float,
                retries: int) -> dict[str, object]:
    engine = SnmpEngine()
    out: dict[str, object] = {}
    where = f"udp {host}:{port}"
    try:
        transport = await UdpTransportTarget.create((host, port), timeout=timeout, retries=retries)
        for subtree in subtrees:
            async for error, status, index, binds in bulk_walk_cmd(
                    engine, CommunityData(community, mpModel=1), transport, ContextData(), 0, 25,
                    ObjectType(ObjectIdentity(subtree)), lexicographicMode=False):
                if error:
                    raise SnmpError(f"{where}: {error} (walking {subtree}); check that the agent runs and that "
                                    "host, port and community in the config are right")
                if status:
                    raise SnmpError(f"{where}: agent error {status.prettyPrint()} at index {index} "
                                    f"(walking {subtree})")
                for name, value in binds:
                    out[str(name)] = plain(value)
    finally:
        engine.close_dispatcher()
    return out


def walk(host: str, port: int, community: str, subtrees: Iterable[str], timeout: float = 2.0,
         retries: int = 1) -> dict[str, object]:
    """{numeric OID: plain value} for every object under `subtrees`; raises SnmpError on no answer."""
    return asyncio.run(_walk(host, port, community, list(subtrees), timeout, retries))
