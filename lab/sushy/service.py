"""labctl service `sushy`: one Redfish BMC (sushy-tools' emulator, fake driver) per physical server.

Each BMC host in inventory/lab (group bmcs) declares `redfish_port` and `redfish_system` (uuid, name,
model, serial, power state at first start). The emulator serves HTTPS with a certificate from the lab CA
and HTTP basic auth (user `redfish_username`, the generated password in .lab/secrets/bmc.password, kept
bcrypt-hashed in the emulator's htpasswd file). Power state persists under .lab/data/<bmc>/ across
restarts, as a real server's does. Faults for tests: .lab/data/<bmc>/faults.json (lab/sushy/emulator.py).
"""

from __future__ import annotations

import base64
import json
import ssl
import sys
import urllib.error
import urllib.request

from lab import common


class Service(common.Service):
    kind = "redfish"
    start_timeout = 60.0

    def __init__(self, name: str, hostvars: dict, lab: common.Lab) -> None:
        super().__init__(name, hostvars, lab)
        self.address = str(hostvars.get("redfish_hostname", "127.0.0.1"))
        common.require_loopback(name, self.address)
        try:
            self.port = int(hostvars["redfish_port"])
        except (KeyError, TypeError, ValueError):
            raise common.LabError(f"{name}: redfish_port: missing or not a number in the inventory") from None
        system = hostvars.get("redfish_system")
        if not isinstance(system, dict) or not system.get("uuid") or not system.get("name"):
            raise common.LabError(f"{name}: redfish_system: needs at least uuid and name in the inventory")
        self.system = system
        self.username = str(hostvars.get("redfish_username") or "jinbao-lab")
        self.config_file = self.data_dir / "emulator.conf"
        self.faults_file = self.data_dir / "faults.json"

    def prepare(self) -> None:
        import bcrypt

        self.cert, self.key = self.lab.server_cert("bmc")
        password = self.lab.secret("bmc.password")
        htpasswd = self.data_dir / "htpasswd"
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        htpasswd.write_text(f"{self.username}:{hashed}\n")
        htpasswd.chmod(0o600)
        (self.data_dir / "state").mkdir(exist_ok=True)
        fake = {"uuid": self.system["uuid"], "name": self.system["name"],
                "power_state": self.system.get("power_state", "On"), "external_notifier": False, "nics": []}
        facts = {k: self.system[f] for k, f in (("Model", "model"), ("SerialNumber", "serial"), ("SKU", "sku"))
                 if self.system.get(f)}
        self.config_file.write_text(
            "# Written by lab/sushy/service.py at every start; edit inventory/lab instead.\n"
            "SUSHY_EMULATOR_FAKE_DRIVER = True\n"
            f"SUSHY_EMULATOR_FAKE_SYSTEMS = {[fake]!r}\n"
            f"SUSHY_EMULATOR_STATE_DIR = {str(self.data_dir / 'state')!r}\n"
            f"SUSHY_EMULATOR_AUTH_FILE = {str(htpasswd)!r}\n"
            f"SUSHY_EMULATOR_LISTEN_IP = {self.address!r}\n"
            f"SUSHY_EMULATOR_LISTEN_PORT = {self.port}\n"
            f"SUSHY_EMULATOR_SSL_CERT = {str(self.cert)!r}\n"
            f"SUSHY_EMULATOR_SSL_KEY = {str(self.key)!r}\n"
            f"LAB_SYSTEM_FACTS = {({self.system['uuid']: facts})!r}\n"
            f"LAB_POWER_DELAY = {tuple(self.vars.get('lab_power_delay') or (1, 3))!r}\n"
            f"LAB_FAULTS_FILE = {str(self.faults_file)!r}\n")

    def command(self) -> list[str]:
        return [sys.executable, "-m", "lab.sushy.emulator", "--config", str(self.config_file)]

    def health(self) -> tuple[bool, str]:
        """An authenticated read of the system, verified against the lab CA."""
        if not common.port_open(self.address, self.port):
            return False, f"nothing listens on {self.address}:{self.port}"
        url = f"https://{self.address}:{self.port}/redfish/v1/Systems/{self.system['uuid']}"
        token = base64.b64encode(f"{self.username}:{self.lab.secret('bmc.password')}".encode()).decode()
        req = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
        try:
            with urllib.request.urlopen(req, timeout=5,
                                        context=ssl.create_default_context(cafile=str(self.lab.ca_cert))) as resp:
                body = json.load(resp)
        except (OSError, ValueError, urllib.error.URLError) as exc:
            return False, f"{url}: {exc}"
        return True, (f"https://{self.address}:{self.port}/redfish/v1 {body.get('Name')} "
                      f"{body.get('Model', '?')} power {body.get('PowerState')}")
