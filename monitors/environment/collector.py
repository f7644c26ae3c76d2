"""EnvironmentCollector: the machine room's power and environment over SNMP, one target per device.

A probe walks the target's MIB subtrees (monitors/environment/snmp.py), turns the answers into readings
(monitors/environment/readings.py) and returns them as metric families. An agent that does not answer
makes that target's `up` 0; a bad value is skipped and logged, and the valid ones are still served.
"""

from __future__ import annotations

from pathlib import Path

from prometheus_client.core import GaugeMetricFamily, Metric

from monitors.common.collection import BackgroundCollector, Target
from monitors.environment import readings, snmp

PREFIX = "jinbao_environment_"
HELP = {
    "ups_on_battery": "1 when the UPS output is fed from its battery (mains lost), else 0.",
    "ups_battery_runtime_seconds": "Estimated battery runtime left at the present load.",
    "ups_battery_charge_ratio": "Battery charge left (0-1).",
    "ups_load_ratio": "Output load as a share of the UPS rating (most loaded line; 1 = full).",
    "ups_input_voltage_volts": "Input (mains) voltage, first input line.",
    "ups_output_voltage_volts": "Output voltage, first output line.",
    "ups_info": "The UPS model and the MIBs it was read through (always 1).",
    "temperature_celsius": "Air temperature at the sensor.",
    "humidity_ratio": "Relative humidity at the sensor (0-1).",
    "water_leak_detected": "1 when the water-leak detector reports water, else 0.",
    "smoke_detected": "1 when the smoke detector is in alarm, else 0.",
    "door_open": "1 when the door contact reports the door open, else 0.",
    "rack_power_watts": "Active power the rack draws now, as its PDU measures it.",
    "rack_power_budget_watts": "The rack's planned power budget (from the config: the facility plan).",
    "outlet_power_watts": "Active power drawn through one PDU outlet.",
}
LABELS = {
    "ups_info": ("model", "mib"),
    "temperature_celsius": ("sensor",), "humidity_ratio": ("sensor",), "water_leak_detected": ("sensor",),
    "smoke_detected": ("sensor",), "door_open": ("sensor",),
    "rack_power_watts": ("rack",), "rack_power_budget_watts": ("rack",), "outlet_power_watts": ("rack", "outlet"),
}
DEFAULT_ALARM_STATE = {"water_leak": "closed", "smoke": "closed", "door": "open"}


class EnvironmentCollector(BackgroundCollector):
    """UPSes (UPS-MIB/XUPS-MIB), room sensors (Eaton/MGE EMP) and rack PDUs (APC rPDU2) over SNMP v2c."""

    exporter = "environment"

    def probe(self, target: Target) -> list[Metric]:
        spec = target.spec
        kind = spec["type"]
        subtrees = [s for mib in self._mibs(spec) for s in readings.SUBTREES[mib]]
        values = snmp.walk(spec["host"], int(spec.get("port", 161)), self._community(target), subtrees,
                           timeout=float(spec.get("snmp_timeout_seconds", 2)), retries=int(spec.get("snmp_retries", 1)))
        result = self.interpret(target, values)
        for problem in result.problems:
            self.log.warning(f"bad value skipped: {problem}", extra={"target": target.name})
        if not result.answered:
            raise snmp.SnmpError(f"udp {spec['host']}:{spec.get('port', 161)} answers, but has none of the "
                                 f"objects a {kind} target reads ({', '.join(subtrees)}); check `type`"
                                 + (" and `mibs`" if kind == "ups" else "") + " for this target")
        return self.families(result.readings)

    @staticmethod
    def interpret(target: Target, values: dict[str, object]) -> readings.Result:
        """The readings of one target from its walked values (no I/O; used by probe() and the tests)."""
        spec = target.spec
        if spec["type"] == "ups":
            return readings.ups(values, list(spec.get("mibs") or ["ups-mib", "xups"]))
        if spec["type"] == "sensors":
            contacts = [{**c, "alarm_state": c.get("alarm_state") or DEFAULT_ALARM_STATE[c["kind"]]}
                        for c in spec.get("contacts") or []]
            return readings.sensors(values, contacts)
        rack = str(spec.get("rack") or target.labels.get("rack") or target.name)
        return readings.pdu(values, rack, spec.get("rack_power_budget_watts"))

    @staticmethod
    def families(found: list[readings.Reading]) -> list[Metric]:
        out: dict[str, GaugeMetricFamily] = {}
        for reading in found:
            family = out.get(reading.metric)
            if family is None:
                family = out[reading.metric] = GaugeMetricFamily(
                    PREFIX + reading.metric, HELP[reading.metric], labels=list(LABELS.get(reading.metric, ())))
            family.add_metric([reading.labels[name] for name in LABELS.get(reading.metric, ())], reading.value)
        return list(out.values())

    @staticmethod
    def _mibs(spec: dict) -> list[str]:
        if spec["type"] == "ups":
            return list(spec.get("mibs") or ["ups-mib", "xups"])
        return [spec["type"]]

    @staticmethod
    def _community(target: Target) -> str:
        spec = target.spec
        if spec.get("community"):
            return str(spec["community"])
        path = Path(spec["community_file"])
        try:
            community = path.read_text().strip()
        except OSError as exc:
            raise snmp.SnmpError(f"community_file {path}: cannot be read ({exc.strerror}); check the path and "
                                 "that the exporter's user may read it") from None
        if not community:
            raise snmp.SnmpError(f"community_file {path} is empty; put the read community in it")
        return community
