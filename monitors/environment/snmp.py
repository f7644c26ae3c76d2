"""The exporter's SNMP client: bulk walks of a few subtrees over SNMP v2c (pysnmp 7, asyncio hlapi).

Every request is bounded by the target's SNMP timeout and retries, so a dead agent costs at most
timeout * (retries + 1) per subtree and a probe thread never hangs on it.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
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
from pysnmp.smi.compiler import DEFAULT_DEST, add_mib_compiler

_shared_compiler: list = []  # the MIB compiler of the first engine, given to every later one (see _engine)
_compiler_lock = threading.Lock()


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


def _engine() -> SnmpEngine:
    """A new SnmpEngine sharing one MIB compiler: pysnmp otherwise builds a pysmi parser (lark LALR tables,
    about 60 % of a walk's CPU) for every engine, though numeric OIDs never need compiling a MIB."""
    engine = SnmpEngine()
    builder = engine.get_mib_builder()
    with _compiler_lock:
        if not _shared_compiler:
            add_mib_compiler(builder, ifAvailable=True, ifNotAdded=True)
            _shared_compiler.append(builder.get_mib_compiler())
        elif _shared_compiler[0] is not None:
            builder.set_mib_compiler(_shared_compiler[0], DEFAULT_DEST)
    return engine


_local = threading.local()  # per thread: one event loop and one SnmpEngine, reused by every walk


def _session() -> tuple[asyncio.AbstractEventLoop, SnmpEngine]:
    """This thread's event loop and SnmpEngine (an engine's set-up, mostly loading its MIB view, costs ~5x
    the walk itself, so a walk reuses them); closed when the thread ends."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = (asyncio.new_event_loop(), _engine())
        weakref.finalize(threading.current_thread(), _close, *session)
    return session


def _close(loop: asyncio.AbstractEventLoop, engine: SnmpEngine) -> None:
    if loop.is_closed():
        return
    try:
        if not loop.is_running():
            loop.run_until_complete(_close_dispatcher(engine))
    except RuntimeError:  # another loop runs in this thread (a finalizer): close without it
        engine.close_dispatcher()
    finally:
        loop.close()


async def _close_dispatcher(engine: SnmpEngine) -> None:
    engine.close_dispatcher()
    await asyncio.sleep(0)  # let the transports' close callbacks run


def _drop_session() -> None:
    session = getattr(_local, "session", None)
    _local.session = None
    if session is not None:
        _close(*session)


async def _walk(engine: SnmpEngine, host: str, port: int, community: str, subtrees: Iterable[str],
                timeout: float, retries: int) -> dict[str, object]:
    out: dict[str, object] = {}
    where = f"udp {host}:{port}"
    transport = await UdpTransportTarget.create((host, port), timeout=timeout, retries=retries)
    for subtree in subtrees:
        async for error, status, index, binds in bulk_walk_cmd(
                engine, CommunityData(community, mpModel=1), transport, ContextData(), 0, 25,
                ObjectType(ObjectIdentity(subtree)), lexicographicMode=False, lookupMib=False):
            if error:
                raise SnmpError(f"{where}: {error} (walking {subtree}); check that the agent runs and that "
                                "host, port and community in the config are right")
            if status:
                raise SnmpError(f"{where}: agent error {status.prettyPrint()} at index {index} "
                                f"(walking {subtree})")
            for name, value in binds:
                out[str(name)] = plain(value)
    return out


def walk(host: str, port: int, community: str, subtrees: Iterable[str], timeout: float = 2.0,
         retries: int = 1) -> dict[str, object]:
    """{numeric OID: plain value} for every object under `subtrees`; raises SnmpError on no answer.

    Runs on this thread's reused event loop and SnmpEngine; any failure other than the agent's answer (or its
    silence) discards them, so the next walk starts clean."""
    loop, engine = _session()
    try:
        return loop.run_until_complete(_walk(engine, host, port, community, list(subtrees), timeout, retries))
    except SnmpError:
        raise
    except BaseException:
        _drop_session()
        raise
