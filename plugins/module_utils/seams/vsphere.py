"""The seam to vCenter: the only place in jinbao-dc that imports pyvmomi.

`connect()` opens a session and turns every way that can fail into one `VSphereError` line that
names the vCenter (its inventory name), the inventory field to look at, and what was seen:

    vc-central: vcenter_port: cannot connect to 127.0.0.1:18443 (connection refused)
    vc-central: vcenter_password: login refused for user jinbao-lab
    vc-central: vcenter_ca_file: the server certificate does not verify against /x/ca.crt (...)

`collect()` fetches every datacenter, folder, compute resource, host, datastore and VM through the
PropertyCollector (one ContainerView, RetrievePropertiesEx/ContinueRetrievePropertiesEx in pages):
a handful of round trips for any size of vCenter, never one per object. It returns plain data
(dicts keyed by managed object id) that asset_register.py shapes into the asset register.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

try:
    from pyVim.connect import Disconnect, SmartConnect
    from pyVmomi import vim, vmodl
    from pyVmomi.VmomiSupport import ManagedObject

    HAS_PYVMOMI = True
    PYVMOMI_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module through missing_required_lib
    HAS_PYVMOMI = False
    PYVMOMI_IMPORT_ERROR = exc

DEFAULT_PAGE_SIZE = 1000

# What is fetched for each object type: the register needs these and nothing more.
PROPERTIES: dict[str, list[str]] = {
    "Datacenter": ["name", "parent"],
    "Folder": ["name", "parent"],
    "ComputeResource": ["name", "parent", "host", "datastore", "resourcePool"],
    "HostSystem": [
        "name", "parent", "datastore", "runtime.connectionState", "runtime.inMaintenanceMode",
        "runtime.powerState", "summary.hardware.numCpuCores", "summary.hardware.memorySize",
        "summary.hardware.vendor", "summary.hardware.model", "summary.hardware.uuid",
    ],
    "Datastore": [
        "name", "parent", "host", "summary.capacity", "summary.freeSpace", "summary.type", "summary.accessible",
    ],
    "VirtualMachine": [
        "name", "parent", "config.uuid", "config.instanceUuid", "config.template", "config.guestId",
        "config.hardware.numCPU", "config.hardware.memoryMB", "config.hardware.device",
        "runtime.host", "runtime.powerState", "datastore", "customValue", "rootSnapshot",
    ],
}


class VSphereError(Exception):
    """A vCenter operation failed; str() is one line: '<vcenter>: <field>: <what happened>'."""

    def __init__(self, subject: str, field: str, message: str) -> None:
        super().__init__(f"{subject}: {field}: {message}")
        self.subject = subject
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach one vCenter. `name` is its inventory name, used in every message."""

    name: str
    hostname: str
    port: int
    username: str
    password: str
    validate_certs: bool = True
    ca_file: str | None = None
    timeout: float = 30.0

    @property
    def address(self) -> str:
        return f"{self.hostname}:{self.port}"


def ssl_context(ep: Endpoint) -> ssl.SSLContext:
    """The TLS context for an endpoint: verify against ca_file (or the system store) unless told not to."""
    if not ep.validate_certs:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    try:
        return ssl.create_default_context(cafile=ep.ca_file or None)
    except FileNotFoundError:
        raise VSphereError(ep.name, "vcenter_ca_file", f"cannot read {ep.ca_file}: no such file") from None
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
        raise VSphereError(ep.name, "vcenter_ca_file",
                           f"cannot load {ep.ca_file} as a PEM CA bundle ({reason})") from None


def _probe(ep: Endpoint, ctx: ssl.SSLContext) -> None:
    """Open one TCP + TLS connection first, so that each failure maps to the right field, within the timeout."""
    try:
        raw = socket.create_connection((ep.hostname, ep.port), timeout=ep.timeout)
    except socket.gaierror as exc:
        raise VSphereError(ep.name, "vcenter_hostname", f"cannot resolve {ep.hostname} ({exc.strerror})") from None
    except ConnectionRefusedError:
        raise VSphereError(ep.name, "vcenter_port", f"cannot connect to {ep.address} (connection refused)") from None
    except TimeoutError:
        raise VSphereError(ep.name, "vcenter_port",
                           f"cannot connect to {ep.address} (no answer within {ep.timeout:g}s)") from None
    except OSError as exc:
        raise VSphereError(ep.name, "vcenter_hostname",
                           f"cannot connect to {ep.address} ({exc.strerror or exc})") from None
    try:
        with ctx.wrap_socket(raw, server_hostname=ep.hostname):
            pass
    except ssl.SSLCertVerificationError as exc:
        trust = ep.ca_file or "the system trust store"
        field = "vcenter_ca_file" if ep.ca_file else "vcenter_validate_certs"
        raise VSphereError(ep.name, field, f"the server certificate does not verify against {trust} "
                                           f"({exc.verify_message})") from None
    except ssl.SSLError as exc:
        raise VSphereError(ep.name, "vcenter_port",
                           f"TLS handshake with {ep.address} failed ({exc.reason or exc}); "
                           "is it the HTTPS port?") from None
    except TimeoutError:
        raise VSphereError(ep.name, "vcenter_port",
                           f"{ep.address} accepted the connection but sent no TLS answer "
                           f"within {ep.timeout:g}s") from None
    except OSError as exc:
        raise VSphereError(ep.name, "vcenter_port", f"TLS handshake with {ep.address} failed ({exc})") from None
    finally:
        raw.close()


def connect(ep: Endpoint) -> Any:
    """A logged-in ServiceInstance, or VSphereError naming the field to fix."""
    if not HAS_PYVMOMI:
        raise VSphereError(ep.name, "controller", f"the pyvmomi library is missing ({PYVMOMI_IMPORT_ERROR}); "
                                                  "run `make deps`")
    ctx = ssl_context(ep)
    _probe(ep, ctx)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(ep.timeout)  # pyvmomi's version probe opens connections without a timeout
    try:
        return SmartConnect(host=ep.hostname, port=ep.port, user=ep.username, pwd=ep.password,
                            sslContext=ctx, httpConnectionTimeout=ep.timeout, connectionPoolTimeout=-1)
    except vim.fault.InvalidLogin:
        raise VSphereError(ep.name, "vcenter_password", f"login refused for user {ep.username}") from None
    except vim.fault.NoPermission:
        raise VSphereError(ep.name, "vcenter_username", f"user {ep.username} has no permission to log in") from None
    except vmodl.MethodFault as exc:
        raise VSphereError(ep.name, "vcenter_hostname", f"{ep.address} refused the session: {exc.msg}") from None
    except TimeoutError:
        raise VSphereError(ep.name, "vcenter_port", f"{ep.address} did not answer within {ep.timeout:g}s") from None
    except ssl.SSLCertVerificationError as exc:
        trust = ep.ca_file or "the system trust store"
        raise VSphereError(ep.name, "vcenter_ca_file", f"the server certificate does not verify against "
                                                       f"{trust} ({exc.verify_message})") from None
    except OSError as exc:
        raise VSphereError(ep.name, "vcenter_port", f"connection to {ep.address} failed ({exc})") from None
    except Exception as exc:  # pyvmomi raises bare Exception for "not a VIM server"
        raise VSphereError(ep.name, "vcenter_port", f"{ep.address} is not a vCenter SDK endpoint ({exc})") from None
    finally:
        socket.setdefaulttimeout(previous)


def disconnect(si: Any) -> None:
    """Log out; a failure to log out never hides the result of the work done."""
    try:
        Disconnect(si)
    except Exception:
        pass


def _moid(ref: Any) -> str | None:
    return ref._moId if ref is not None else None


def _plain(value: Any) -> Any:
    """pyvmomi values as JSON-friendly data: references become managed object ids."""
    if isinstance(value, ManagedObject):
        return value._moId
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, vim.Datastore.HostMount):
        return _moid(value.key)
    if isinstance(value, vim.CustomFieldsManager.StringValue):
        return {"key": value.key, "value": value.value}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, vim.vm.device.VirtualDevice):
        return value
    return str(value)


def _disk_bytes(devices: list[Any] | None) -> int:
    total = 0
    for dev in devices or ():
        if isinstance(dev, vim.vm.device.VirtualDisk):
            total += int(dev.capacityInBytes or (dev.capacityInKB or 0) * 1024)
    return total


def _retrieve(si: Any, page_size: int) -> Iterator[Any]:
    """Every object of the PROPERTIES types below the root folder, page by page."""
    content = si.RetrieveContent()
    types = [getattr(vim, name) for name in PROPERTIES]
    view = content.viewManager.CreateContainerView(content.rootFolder, types, True)
    try:
        pc = content.propertyCollector
        traverse = vmodl.query.PropertyCollector.TraversalSpec(name="view", path="view", skip=False,
                                                               type=vim.view.ContainerView)
        spec = vmodl.query.PropertyCollector.FilterSpec(
            objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=view, skip=True, selectSet=[traverse])],
            propSet=[vmodl.query.PropertyCollector.PropertySpec(type=getattr(vim, name), pathSet=paths, all=False)
                     for name, paths in PROPERTIES.items()],
        )
        options = vmodl.query.PropertyCollector.RetrieveOptions(maxObjects=page_size)
        result = pc.RetrievePropertiesEx(specSet=[spec], options=options)
        while result is not None:
            yield from result.objects
            if not result.token:
                break
            result = pc.ContinueRetrievePropertiesEx(token=result.token)
    finally:
        try:
            view.Destroy()
        except Exception:
            pass


def collect(si: Any, ep: Endpoint, page_size: int = DEFAULT_PAGE_SIZE) -> dict[str, Any]:
    """The vCenter's inventory as plain data.

    Returns {"about": {...}, "fields": {key: name}, and one dict per kind keyed by managed object id:
    "datacenters", "folders", "compute", "hosts", "datastores", "vms"}. Each object has "name" and
    "parent" plus the properties of its kind; references are managed object ids.
    """
    try:
        content = si.RetrieveContent()
        about = content.about
        fields = {f.key: f.name for f in (content.customFieldsManager.field or ())} \
            if content.customFieldsManager else {}
        data: dict[str, Any] = {
            "about": {"name": about.name, "full_name": about.fullName, "version": about.version,
                      "api_version": about.apiVersion, "instance_uuid": about.instanceUuid},
            "fields": fields,
            "datacenters": {}, "folders": {}, "compute": {}, "hosts": {}, "datastores": {}, "vms": {},
        }
        kinds = {vim.Datacenter: "datacenters", vim.Folder: "folders", vim.ComputeResource: "compute",
                 vim.HostSystem: "hosts", vim.Datastore: "datastores", vim.VirtualMachine: "vms"}
        for obj in _retrieve(si, page_size):
            kind = next((k for t, k in kinds.items() if isinstance(obj.obj, t)), None)
            if kind is None:
                continue
            props = {p.name: p.val for p in obj.propSet}
            item: dict[str, Any] = {"type": type(obj.obj).__name__.split(".")[-1]}
            for name, value in props.items():
                if name == "config.hardware.device":
                    item["disk_bytes"] = _disk_bytes(value)
                elif name == "customValue":
                    item["custom"] = {fields.get(v.key, str(v.key)): v.value for v in value or ()
                                      if isinstance(v, vim.CustomFieldsManager.StringValue)}
                else:
                    item[name] = _plain(value)
            data[kind][obj.obj._moId] = item
        return data
    except vmodl.fault.ManagedObjectNotFound as exc:
        raise VSphereError(ep.name, "vcenter_hostname", f"an object vanished while reading the inventory "
                                                        f"({exc.obj}); run discovery again") from None
    except vim.fault.NoPermission as exc:
        raise VSphereError(ep.name, "vcenter_username", f"user {ep.username} may not read the inventory "
                                                        f"({exc.privilegeId})") from None
    except vmodl.MethodFault as exc:
        raise VSphereError(ep.name, "vcenter_hostname", f"reading the inventory failed: {exc.msg}") from None
    except TimeoutError:
        raise VSphereError(ep.name, "vcenter_port", f"{ep.address} stopped answering while the inventory was "
                                                    f"read (timeout {ep.timeout:g}s)") from None
    except OSError as exc:
        raise VSphereError(ep.name, "vcenter_port", f"connection to {ep.address} lost while reading the "
                                                    f"inventory ({exc})") from None


# --- moving VMs (migrate.yml) -------------------------------------------------------------------------

def _lost(ep: Endpoint, doing: str, exc: BaseException) -> VSphereError:
    return VSphereError(ep.name, "vcenter_port", f"lost the connection to {ep.address} while {doing} "
                                                 f"({type(exc).__name__}: {exc}); the VM stays where vCenter has it")


def wait_for_task(task: Any, ep: Endpoint, what: str, timeout: float) -> None:
    """Wait for a vCenter task; VSphereError with vCenter's own reason when it fails or overruns."""
    deadline = time.monotonic() + timeout
    while True:
        state = task.info.state
        if state == vim.TaskInfo.State.success:
            return
        if state == vim.TaskInfo.State.error:
            fault = task.info.error
            raise VSphereError(ep.name, "task", f"{what} failed in vCenter: {getattr(fault, 'msg', fault)}")
        if time.monotonic() > deadline:
            raise VSphereError(ep.name, "task", f"{what} did not finish within {timeout:g}s; vCenter task "
                                                f"{task._moId} is still {state}")
        time.sleep(0.1)


class Inventory:
    """One PropertyCollector pass (collect()) indexed for moving VMs: names, paths and state by managed object id.

    Built once per batch and shared, read-only, by the worker threads; each thread then acts through its own
    session with references made from these ids, so a move costs a handful of round trips, not one per
    property read.
    """

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.host_by_name = {h["name"]: moid for moid, h in raw["hosts"].items()}
        self.ds_by_name = {d["name"]: moid for moid, d in raw["datastores"].items()}
        self.vm_by_uuid = {v.get("config.uuid"): moid for moid, v in raw["vms"].items() if v.get("config.uuid")}
        self.folder_path = {moid: self._path(moid) for moid in raw["folders"]}
        self.folder_by_path = {(dc, path): moid for moid, (dc, path) in self.folder_path.items() if path is not None}

    def _path(self, moid: str) -> tuple[str | None, str | None]:
        """(datacenter id, path below its vm folder) of a VM folder; path None for other folders."""
        parts, node = [], moid
        while node in self.raw["folders"]:
            folder = self.raw["folders"][node]
            parent = folder.get("parent")
            if parent in self.raw["datacenters"]:
                return (parent, "/".join(reversed(parts))) if folder["name"] == "vm" else (parent, None)
            parts.append(folder["name"])
            node = parent
        return (None, None)

    def datacenter_of_host(self, host_moid: str) -> str | None:
        node = self.raw["hosts"].get(host_moid, {}).get("parent")
        while node:
            if node in self.raw["datacenters"]:
                return node
            item = self.raw["compute"].get(node) or self.raw["folders"].get(node) or {}
            node = item.get("parent")
        return None

    def host(self, name: str) -> dict[str, Any] | None:
        moid = self.host_by_name.get(name)
        return {"moid": moid, **self.raw["hosts"][moid]} if moid else None

    def datastore(self, name: str) -> dict[str, Any] | None:
        moid = self.ds_by_name.get(name)
        return {"moid": moid, **self.raw["datastores"][moid]} if moid else None

    def pool_of_host(self, host_moid: str) -> str | None:
        compute = self.raw["compute"].get(self.raw["hosts"][host_moid].get("parent")) or {}
        return compute.get("resourcePool")

    def where(self, vm_moid: str, props: dict[str, Any] | None = None) -> dict[str, Any]:
        """Where a VM is: name, host (and its connection), datastores, power state, folder, snapshot roots."""
        vm = props if props is not None else self.raw["vms"][vm_moid]
        host = self.raw["hosts"].get(vm.get("runtime.host")) or {}
        return {
            "name": vm.get("name"),
            "host": host.get("name"),
            "host_connection": host.get("runtime.connectionState"),
            "datastores": sorted(self.raw["datastores"].get(d, {}).get("name", d) for d in vm.get("datastore") or ()),
            "power_state": vm.get("runtime.powerState"),
            "folder": self.folder_path.get(vm.get("parent"), (None, None))[1] or "",
            "snapshots": len(vm.get("rootSnapshot") or ()),
        }


VM_STATE = ["name", "runtime.host", "datastore", "runtime.powerState", "parent", "rootSnapshot"]


def vm_state(si: Any, ep: Endpoint, vm_moid: str) -> dict[str, Any] | None:
    """A VM's VM_STATE properties in one round trip (references as ids), or None when it is gone."""
    pc = si.content.propertyCollector
    spec = vmodl.query.PropertyCollector.FilterSpec(
        objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=vim.VirtualMachine(vm_moid, si._stub), skip=False)],
        propSet=[vmodl.query.PropertyCollector.PropertySpec(type=vim.VirtualMachine, pathSet=VM_STATE, all=False)])
    try:
        result = pc.RetrievePropertiesEx(specSet=[spec], options=vmodl.query.PropertyCollector.RetrieveOptions())
    except vmodl.fault.ManagedObjectNotFound:
        return None
    except vmodl.MethodFault as exc:
        raise VSphereError(ep.name, "vm", f"reading VM {vm_moid} failed: {exc.msg}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise _lost(ep, f"reading VM {vm_moid}", exc) from None
    if result is None or not result.objects:
        return None
    return {p.name: _plain(p.val) for p in result.objects[0].propSet}


def relocate(si: Any, ep: Endpoint, vm_moid: str, what: str, *, host: str, pool: str | None,
             datastore: str | None, folder: str | None, timeout: float = 600.0) -> None:
    """Move a VM (by id) to a host and resource pool, its disks to a datastore, then into a folder (all ids)."""
    try:
        vm = vim.VirtualMachine(vm_moid, si._stub)
        spec = vim.vm.RelocateSpec(host=vim.HostSystem(host, si._stub))
        if pool:
            spec.pool = vim.ResourcePool(pool, si._stub)
        if datastore:
            spec.datastore = vim.Datastore(datastore, si._stub)
        wait_for_task(vm.RelocateVM_Task(spec), ep, what, timeout)
        if folder:
            wait_for_task(vim.Folder(folder, si._stub).MoveIntoFolder_Task([vm]), ep, f"{what}: folder", timeout)
    except vmodl.MethodFault as exc:
        raise VSphereError(ep.name, "task", f"{what} was refused: {exc.msg}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise _lost(ep, what, exc) from None


class Sessions:
    """One vCenter session per thread for work spread over worker threads (the waves' mover); close() logs out.

    What a mover needs from vCenter, and nothing else: the inventory (one PropertyCollector pass), a VM's
    state, and a relocation. Unit tests stand a fake with the same methods in for it.
    """

    def __init__(self, ep: Endpoint) -> None:
        self.ep = ep
        self.name = ep.name
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[Any] = []

    def _si(self) -> Any:
        si = getattr(self._local, "si", None)
        if si is None:
            si = connect(self.ep)
            self._local.si = si
            with self._lock:
                self._all.append(si)
        return si

    def inventory(self) -> Inventory:
        return Inventory(collect(self._si(), self.ep))

    def vm_state(self, vm_moid: str) -> dict[str, Any] | None:
        return vm_state(self._si(), self.ep, vm_moid)

    def relocate(self, vm_moid: str, what: str, *, host: str, pool: str | None, datastore: str | None,
                 folder: str | None, timeout: float = 600.0) -> None:
        relocate(self._si(), self.ep, vm_moid, what, host=host, pool=pool, datastore=datastore, folder=folder,
                 timeout=timeout)

    def close(self) -> None:
        for si in self._all:
            disconnect(si)
        self._all.clear()


# --- decommissioning (decommission.yml) ---------------------------------------------------------------

def enter_maintenance(si: Any, ep: Endpoint, host: str, name: str, timeout: float = 300.0) -> None:
    """Put a host (by id; `name` for messages) into maintenance mode; it must hold no running VM."""
    try:
        wait_for_task(vim.HostSystem(host, si._stub).EnterMaintenanceMode_Task(timeout=int(timeout)), ep,
                      f"maintenance mode for {name}", timeout)
    except vmodl.MethodFault as exc:
        raise VSphereError(name, "maintenance", f"vCenter refused maintenance mode: {exc.msg}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise _lost(ep, f"putting {name} into maintenance mode", exc) from None


def disconnect_host(si: Any, ep: Endpoint, host: str, name: str, timeout: float = 300.0) -> None:
    """Disconnect a host (by id) from vCenter; it stays in the inventory, disconnected."""
    try:
        wait_for_task(vim.HostSystem(host, si._stub).DisconnectHost_Task(), ep, f"disconnecting {name}", timeout)
    except vmodl.MethodFault as exc:
        raise VSphereError(name, "connection_state", f"vCenter refused to disconnect it: {exc.msg}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise _lost(ep, f"disconnecting {name}", exc) from None


def remove_datastore(si: Any, ep: Endpoint, host: str, datastore: str, name: str) -> None:
    """Remove a datastore (by id) through a host (by id) that mounts it; vCenter refuses while a VM lives on it."""
    try:
        system = vim.HostSystem(host, si._stub).configManager.datastoreSystem
        system.RemoveDatastore(datastore=vim.Datastore(datastore, si._stub))
    except vim.fault.ResourceInUse as exc:
        raise VSphereError(name, "vms", f"vCenter refused to remove it, still in use: {exc.msg}") from None
    except vmodl.MethodFault as exc:
        raise VSphereError(name, "datastore", f"vCenter refused to remove it: {exc.msg}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise _lost(ep, f"removing datastore {name}", exc) from None


# The connection options every vsphere_* module takes, and the Endpoint they make.
CONNECTION_ARGS: dict[str, dict[str, Any]] = {
    "name": {"type": "str", "required": True},
    "hostname": {"type": "str", "required": True},
    "port": {"type": "int", "default": 443},
    "username": {"type": "str", "required": True},
    "password": {"type": "str", "required": True, "no_log": True},
    "validate_certs": {"type": "bool", "default": True},
    "ca_file": {"type": "path"},
    "timeout": {"type": "float", "default": 30.0},
}


def argument_spec(**options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A vsphere_* module's argument spec: the connection (doc fragment jinbao.dc.vsphere, set once per play by
    `module_defaults: {group/jinbao.dc.vsphere: ...}`) plus the module's own options."""
    return {**CONNECTION_ARGS, **options}


def endpoint(params: dict[str, Any]) -> Endpoint:
    """The Endpoint of a vsphere_* module's connection parameters."""
    return Endpoint(name=params["name"], hostname=params["hostname"], port=params["port"],
                    username=params["username"], password=params["password"],
                    validate_certs=params["validate_certs"], ca_file=params["ca_file"], timeout=params["timeout"])


class Decommissioner:
    """The decommissioning steps on one session, by name (hosts and datastores resolved through `inv`)."""

    def __init__(self, si: Any, ep: Endpoint, inv: Inventory, task_timeout: float = 300.0) -> None:
        self.si, self.ep, self.inv, self.task_timeout = si, ep, inv, task_timeout

    def enter_maintenance(self, host: str) -> None:
        enter_maintenance(self.si, self.ep, self.inv.host_by_name[host], host, self.task_timeout)

    def remove_datastore(self, via_host: str, datastore: str) -> None:
        remove_datastore(self.si, self.ep, self.inv.host_by_name[via_host], self.inv.ds_by_name[datastore], datastore)

    def disconnect_host(self, host: str) -> None:
        disconnect_host(self.si, self.ep, self.inv.host_by_name[host], host, self.task_timeout)
