"""From SNMP values to readings: MIB objects, unit conversion and the sanity checks on every value.

Pure functions, no I/O: `values` maps a numeric OID (no leading dot) to what the agent answered, already
turned into plain Python (int, str, bytes or None for noSuchObject/noSuchInstance). Anything an agent can
send is accepted: a value that is missing, not a number, negative where that is impossible, or out of the
physical range is skipped and described in `problems` (the collector logs them); the rest is returned.

MIBs read (the lab serves the same shapes, lab/snmpsim/devices.py):
- RFC 1628 UPS-MIB (1.3.6.1.2.1.33.1) and Eaton XUPS-MIB (1.3.6.1.4.1.534.1) for UPSes;
- MG-SNMP-UPS-MIB environment rows (Eaton/MGE EMP): upsmgConfigEnvironmentTable 1.3.6.1.4.1.705.1.4.34.1
  and upsmgEnvironmentSensorTable 1.3.6.1.4.1.705.1.8.7.1 for room sensors;
- APC PowerNet-MIB rPDU2 (1.3.6.1.4.1.318.1.1.26) for metered rack PDUs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

UPS_MIB = "1.3.6.1.2.1.33.1"
XUPS = "1.3.6.1.4.1.534.1"
EMP_CONFIG = "1.3.6.1.4.1.705.1.4.34.1"
EMP_SENSOR = "1.3.6.1.4.1.705.1.8.7.1"
RPDU2_OUTLET = "1.3.6.1.4.1.318.1.1.26.9.4.3.1"
RPDU2_DEVICE_POWER = "1.3.6.1.4.1.318.1.1.26.4.3.1.5"

# The subtrees a target type walks.
SUBTREES = {
    "ups-mib": (UPS_MIB,),
    "xups": (XUPS,),
    "sensors": (EMP_CONFIG, EMP_SENSOR),
    "pdu": (RPDU2_OUTLET, RPDU2_DEVICE_POWER),
}

OUTPUT_SOURCE_BATTERY = 5  # upsOutputSource / xupsOutputSource battery(5)
CONTACT_STATES = {1: "closed", 2: "open"}  # upsmgEnvironmentInput1State / Input2State
CONTACT_METRICS = {"water_leak": "water_leak_detected", "smoke": "smoke_detected", "door": "door_open"}
MAX_LABEL = 64


@dataclass
class Reading:
    metric: str  # the name after jinbao_environment_
    labels: dict[str, str]
    value: float


@dataclass
class Result:
    readings: list[Reading] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    answered: set[str] = field(default_factory=set)  # which MIBs had any object at all

    def add(self, metric: str, value: float | None, **labels: str) -> None:
        if value is not None:
            self.readings.append(Reading(metric, labels, value))


def number(raw: object, what: str, problems: list[str], *, scale: float = 1.0, minimum: float = 0.0,
           maximum: float, skip: tuple[int, ...] = ()) -> float | None:
    """`raw` * `scale` when it is a finite number within [minimum, maximum]; else None plus a problem.

    A missing value (None) is reported too. `skip` lists raw sentinel values that mean "not measured"
    (e.g. -1 on APC PDUs): they are dropped without complaint."""
    if raw is None:
        problems.append(f"{what}: missing (the agent has no such object); skipped")
        return None
    value: float | None = None
    if isinstance(raw, bool):
        value = None
    elif isinstance(raw, int):
        if raw in skip:
            return None
        value = float(raw) if abs(raw) < 2**63 else None
    elif isinstance(raw, float):
        value = raw
    elif isinstance(raw, (str, bytes)):
        text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else raw
        try:
            value = float(text.strip())
        except ValueError:
            value = None
        else:
            if value.is_integer() and int(value) in skip:
                return None
    if value is None or not math.isfinite(value):
        problems.append(f"{what}: {_show(raw)} is not a number; skipped")
        return None
    scaled = value * scale
    if not (minimum <= scaled <= maximum):
        problems.append(f"{what}: {_show(raw)} gives {scaled:g}, outside [{minimum:g}, {maximum:g}]; skipped")
        return None
    return scaled


def text(raw: object) -> str | None:
    """A printable label value (at most 64 characters), or None."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str):
        return None
    cleaned = "".join(ch for ch in raw if ch.isprintable()).strip()
    return cleaned[:MAX_LABEL] or None


def _show(raw: object) -> str:
    shown = repr(raw)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _rows(values: dict[str, object], table: str, column: int) -> dict[int, object]:
    """index -> value of one column of a table indexed by a single integer."""
    prefix = f"{table}.{column}."
    out = {}
    for oid, value in values.items():
        if oid.startswith(prefix):
            rest = oid[len(prefix):]
            if rest.isdigit():
                out[int(rest)] = value
    return out


def _first_row(values: dict[str, object], table: str, column: int) -> object:
    rows = _rows(values, table, column)
    return rows[min(rows)] if rows else None


def _has(values: dict[str, object], subtree: str) -> bool:
    return any(oid.startswith(subtree + ".") for oid in values)


# --- UPS -------------------------------------------------------------------------------------------------
def ups(values: dict[str, object], mibs: list[str]) -> Result:
    """UPS state from UPS-MIB and/or XUPS-MIB, in `mibs` order: the first MIB that has a valid value wins."""
    result = Result()
    for mib, subtree in (("ups-mib", UPS_MIB), ("xups", XUPS)):
        if mib in mibs and _has(values, subtree):
            result.answered.add(mib)
    p = result.problems
    u, x = UPS_MIB, XUPS
    # field -> per MIB: (raw value, what, conversion kwargs)
    fields = {
        "source": {"ups-mib": (values.get(f"{u}.4.1.0"), "upsOutputSource", {"maximum": 12, "minimum": 1}),
                   "xups": (values.get(f"{x}.4.5.0"), "xupsOutputSource", {"maximum": 12, "minimum": 1})},
        "ups_battery_runtime_seconds": {
            "ups-mib": (values.get(f"{u}.2.3.0"), "upsEstimatedMinutesRemaining", {"scale": 60, "maximum": 6e6}),
            "xups": (values.get(f"{x}.2.1.0"), "xupsBatTimeRemaining", {"maximum": 6e6})},
        "ups_battery_charge_ratio": {
            "ups-mib": (values.get(f"{u}.2.4.0"), "upsEstimatedChargeRemaining", {"scale": 0.01, "maximum": 1}),
            "xups": (values.get(f"{x}.2.4.0"), "xupsBatCapacity", {"scale": 0.01, "maximum": 1})},
        "ups_load_ratio": {
            "ups-mib": (_max_row(values, f"{u}.4.4.1", 5), "upsOutputPercentLoad", {"scale": 0.01, "maximum": 10}),
            "xups": (values.get(f"{x}.4.1.0"), "xupsOutputLoad", {"scale": 0.01, "maximum": 10})},
        "ups_input_voltage_volts": {
            "ups-mib": (_first_row(values, f"{u}.3.3.1", 3), "upsInputVoltage", {"maximum": 1000}),
            "xups": (_first_row(values, f"{x}.3.4.1", 2), "xupsInputVoltage", {"maximum": 1000})},
        "ups_output_voltage_volts": {
            "ups-mib": (_first_row(values, f"{u}.4.4.1", 2), "upsOutputVoltage", {"maximum": 1000}),
            "xups": (_first_row(values, f"{x}.4.4.1", 2), "xupsOutputVoltage", {"maximum": 1000})},
    }
    for metric, by_mib in fields.items():
        value = None
        for mib in mibs:
            if mib not in result.answered or mib not in by_mib:
                continue
            raw, what, kwargs = by_mib[mib]
            value = number(raw, what, p, **kwargs)
            if value is not None:
                break
        if metric == "source":
            if value is not None and value.is_integer():
                result.add("ups_on_battery", 1.0 if int(value) == OUTPUT_SOURCE_BATTERY else 0.0)
            elif value is not None:
                result.problems.append(f"output source {value:g} is not an enumeration value; skipped")
        else:
            result.add(metric, value)
    model = None
    for mib in mibs:
        if mib in result.answered:
            model = text(values.get(f"{u}.1.2.0" if mib == "ups-mib" else f"{x}.1.2.0"))
            if model:
                break
    if result.answered:
        result.add("ups_info", 1.0, model=model or "unknown",
                   mib="+".join(m for m in mibs if m in result.answered))
    return result


def _max_row(values: dict[str, object], table: str, column: int) -> object:
    """The largest valid row of a per-line column (the most loaded output line); raw value or None."""
    rows = _rows(values, table, column)
    numbers = [(v, raw) for raw in rows.values() if (v := number(raw, "", [], maximum=1e6)) is not None]
    if numbers:
        return max(numbers, key=lambda pair: pair[0])[1]
    return rows[min(rows)] if rows else None


# --- room sensors (EMP) -------------------------------------------------------------------------------------
def sensors(values: dict[str, object], contacts: list[dict]) -> Result:
    """Temperature and humidity of every EMP probe, and the dry contacts `contacts` declares."""
    result = Result()
    p = result.problems
    if _has(values, EMP_SENSOR):
        result.answered.add("sensors")
    names = _rows(values, EMP_CONFIG, 2)
    failed = _rows(values, EMP_SENSOR, 2)
    temps = _rows(values, EMP_SENSOR, 3)
    hums = _rows(values, EMP_SENSOR, 6)
    states = {1: _rows(values, EMP_SENSOR, 9), 2: _rows(values, EMP_SENSOR, 10)}
    probes = sorted(set(temps) | set(hums) | set(states[1]) | set(states[2]))
    for probe in probes:
        sensor = text(names.get(probe)) or f"probe-{probe}"
        if failed.get(probe) == 1:  # upsmgEnvironmentComFailure yes(1): the probe is not talking to the card
            p.append(f"probe {probe} ({sensor}): upsmgEnvironmentComFailure is yes; its readings skipped")
            continue
        result.add("temperature_celsius", number(temps.get(probe), f"probe {probe} ({sensor}) temperature", p,
                                                 scale=0.1, minimum=-40, maximum=125), sensor=sensor)
        result.add("humidity_ratio", number(hums.get(probe), f"probe {probe} ({sensor}) humidity", p,
                                            scale=0.01, maximum=1), sensor=sensor)
    for contact in contacts:
        probe, inp = int(contact["probe"]), int(contact["input"])
        what = f"probe {probe} input {inp} ({contact['sensor']})"
        if failed.get(probe) == 1:
            continue
        state = number(states[inp].get(probe), what, p, minimum=1, maximum=2)
        if state is None or not float(state).is_integer():
            continue
        active = CONTACT_STATES[int(state)] == contact.get("alarm_state", "closed")
        result.add(CONTACT_METRICS[contact["kind"]], 1.0 if active else 0.0, sensor=str(contact["sensor"]))
    return result


# --- rack PDUs (APC rPDU2) -----------------------------------------------------------------------------------
def pdu(values: dict[str, object], rack: str, budget_watts: float | None) -> Result:
    """Per-outlet active power, the rack's measured power and its planned budget.

    Rack power is rPDU2DeviceStatusPower (0.01 kW; every outlet, metered or not) when the PDU gives a valid
    one, else the sum of the valid outlet readings."""
    result = Result()
    p = result.problems
    if _has(values, RPDU2_OUTLET) or _has(values, RPDU2_DEVICE_POWER):
        result.answered.add("pdu")
    outlets = _rows(values, RPDU2_OUTLET, 7)
    total = 0.0
    valid = 0
    for number_, raw in sorted(outlets.items()):
        watts = number(raw, f"rack {rack} outlet {number_} rPDU2OutletMeteredStatusPower", p, maximum=100_000,
                       skip=(-1,))
        if watts is not None:
            result.add("outlet_power_watts", watts, rack=rack, outlet=str(number_))
            total += watts
            valid += 1
    device = _device_power(values)
    rack_watts = number(device, f"rack {rack} rPDU2DeviceStatusPower", p, scale=10, maximum=1_000_000,
                        skip=(-1,)) if device is not None else None
    if rack_watts is None and valid:
        rack_watts = total
    result.add("rack_power_watts", rack_watts, rack=rack)
    if budget_watts is not None:
        result.add("rack_power_budget_watts", float(budget_watts), rack=rack)
    return result


def _device_power(values: dict[str, object]) -> object:
    rows = _rows(values, RPDU2_DEVICE_POWER[: -len(".5")], 5)
    return rows[min(rows)] if rows else None
