"""The lab BMC: sushy-tools' Redfish emulator with its fake driver, plus what a server move needs.

    python -m lab.sushy.emulator --config <file> [sushy-emulator options]

The stock fake driver has no model or serial number, and every power change lands after a random 1-11 s.
This launcher keeps sushy-emulator as it is and adds, from the config file:

* LAB_SYSTEM_FACTS: {system uuid: {"Model": ..., "SerialNumber": ..., "SKU": ...}}, merged into
  GET /redfish/v1/Systems/<id>, so community.general.redfish_info reads model and serial as from real gear;
* LAB_POWER_DELAY: (min, max) seconds before a power change lands (the lab keeps it short);
* LAB_FAULTS_FILE: a JSON file read on every request, for tests to inject faults on a running BMC:
  {"hang_on_shutdown": true} (the OS ignores GracefulShutdown, as a hung OS does) and
  {"health": "Critical"} (the system reports that health after power-on).
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from sushy_tools.emulator import main as emulator
from sushy_tools.emulator.resources.systems import fakedriver


def _faults() -> dict:
    path = emulator.app.config.get("LAB_FAULTS_FILE")
    if not path:
        return {}
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def _set_power_state(self, identity, state):
    """The fake driver's power change, with the lab's delay and the hang-on-shutdown fault."""
    low, high = emulator.app.config.get("LAB_POWER_DELAY", (1, 11))
    system = self._get(identity)
    if state == "GracefulShutdown" and _faults().get("hang_on_shutdown"):
        return  # accepted, never done: the OS does not shut down
    if "On" in state:
        pending = "On"
    elif state in ("ForceOff", "GracefulShutdown"):
        pending = "Off"
    else:
        return _stock_set_power_state(self, identity, state)
    if system["power_state"] != pending:
        self._update(system, pending_power={"power_state": pending,
                                            "apply_time": time.time() + random.uniform(low, high)})
    elif system.get("pending_power"):  # asked for the state it is in: cancel a change still pending
        self._update(system, pending_power=None)


_stock_set_power_state = fakedriver.FakeDriver.set_power_state
fakedriver.FakeDriver.set_power_state = _set_power_state


@emulator.app.after_request
def _add_system_facts(response):
    """Model, serial and (under a fault) health in a system's resource, as a real BMC reports them."""
    parts = emulator.flask.request.path.rstrip("/").split("/")
    if emulator.flask.request.method != "GET" or len(parts) != 5 or parts[1:4] != ["redfish", "v1", "Systems"]:
        return response
    try:
        body = json.loads(response.get_data())
    except ValueError:
        return response
    body.update((emulator.app.config.get("LAB_SYSTEM_FACTS") or {}).get(body.get("UUID"), {}))
    health = _faults().get("health")
    if health and body.get("PowerState") == "On":
        body.setdefault("Status", {}).update(Health=health, HealthRollUp=health)
    response.set_data(json.dumps(body, indent=4))
    return response


if __name__ == "__main__":
    sys.argv[0] = "sushy-emulator"
    sys.exit(emulator.main())
