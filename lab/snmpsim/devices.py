"""What the lab's SNMP agents answer: one MIB-shaped record set per device profile, and its variants.

Each profile is a real vendor MIB shape, so the environment exporter reads the lab exactly as it would read
the room's devices:

- `ups`: snmpsim's shipped real recording of an Eaton 9PX 2200i RT 3U (`eaton-9PX-partial-walk.snmprec`:
  XUPS-MIB 1.3.6.1.4.1.534.1 and the MGE MIB 1.3.6.1.4.1.705.1). The recording has no RFC 1628 UPS-MIB
  (1.3.6.1.2.1.33), which the same card serves on a real unit, so the RFC 1628 objects the exporter reads
  are added from the recording's own values (upsIdent, upsBattery, upsInput, upsOutput, upsAlarm).
- `sensors`: an Eaton/MGE Environment Monitoring Probe (EMP) as MG-SNMP-UPS-MIB shows it, the same rows the
  Eaton recording carries: upsmgConfigEnvironmentTable 1.3.6.1.4.1.705.1.4.34.1 (probe name, limits,
  dry-contact input names) and upsmgEnvironmentSensorTable 1.3.6.1.4.1.705.1.8.7.1 (.2 com failure yes(1)/no(2),
  .3 temperature in 0.1 °C, .6 humidity in %RH as LibreNMS and Observium read it, .9/.10 input 1/2 state:
  closed(1), open(2)). Two probes, cold aisle and hot aisle of row A; their dry contacts carry the water-leak
  rope (closed = water), the smoke detector (closed = alarm) and the door switch (open = door open).
- `pdu`: an APC metered rack PDU (PowerNet-MIB rPDU2): rPDU2OutletMeteredStatusTable
  1.3.6.1.4.1.318.1.1.26.9.4.3.1 (.3 name, .4 number, .5 load state, .6 current in 0.1 A, .7 power in W)
  and rPDU2DeviceStatusPower 1.3.6.1.4.1.318.1.1.26.4.3.1.5 (0.01 kW).

A record is (oid, tag, value) in snmprec terms: tag 2 INTEGER, 4 OCTET STRING, 6 OID, 65 Counter32,
66 Gauge32, 67 TimeTicks.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path

Record = tuple[str, str, str]

UPS_MIB = "1.3.6.1.2.1.33.1"
XUPS = "1.3.6.1.4.1.534.1"
EMP_CONFIG = "1.3.6.1.4.1.705.1.4.34.1"
EMP_SENSOR = "1.3.6.1.4.1.705.1.8.7.1"
RPDU2_OUTLET = "1.3.6.1.4.1.318.1.1.26.9.4.3.1"
RPDU2_DEVICE_POWER = "1.3.6.1.4.1.318.1.1.26.4.3.1.5.1"

VARIANTS: dict[str, dict[str, str]] = {
    "ups": {
        "normal": "on mains, battery full (about 287 minutes of runtime at 9 % load)",
        "on-battery": "mains lost: output source battery, runtime falling (38 minutes), charge 86 %",
        "low-runtime": "on battery and nearly empty: battery low, 4 minutes left, charge 12 %",
    },
    "sensors": {
        "normal": "cold aisle 21.5 °C / 45 %RH, hot aisle 24.5 °C / 42 %RH, all contacts quiet, door shut",
        "hot-aisle": "cooling lost on row A: hot aisle 31.5 °C, cold aisle 27.8 °C",
        "leak": "the underfloor water-leak rope under row A reports water",
        "smoke": "the ceiling smoke detector over row A is in alarm",
        "door-open": "the machine-room door contact reports the door open",
        "humid": "humidifier stuck on: 82 %RH in the cold aisle, 78 %RH in the hot aisle",
    },
    "pdu": {
        "normal": "eight servers drawing about 4.2 kW in total",
        "over-budget": "extra load on the rack: about 9.4 kW in total, over an 8 kW budget",
    },
}


def _oid_key(oid: str) -> tuple[int, ...]:
    return tuple(int(part) for part in oid.split("."))


def render(records: dict[str, tuple[str, str]]) -> str:
    """snmprec text: one `oid|tag|value` line per record, in OID order (snmpsim requires it)."""
    return "".join(f"{oid}|{tag}|{value}\n" for oid, (tag, value) in sorted(records.items(),
                                                                            key=lambda kv: _oid_key(kv[0])))


def parse_snmprec(text: str) -> dict[str, tuple[str, str]]:
    records = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        oid, tag, value = line.split("|", 2)
        records[oid] = (tag, value)
    return records


def _system(descr: str, object_id: str, name: str, location: str) -> dict[str, tuple[str, str]]:
    return {"1.3.6.1.2.1.1.1.0": ("4", descr), "1.3.6.1.2.1.1.2.0": ("6", object_id),
            "1.3.6.1.2.1.1.3.0": ("67", "8640000"), "1.3.6.1.2.1.1.5.0": ("4", name),
            "1.3.6.1.2.1.1.6.0": ("4", location)}


def eaton_recording() -> Path:
    """The recording in this interpreter's snmpsim (found through the venv's site-packages, not imported)."""
    return Path(sysconfig.get_path("purelib")) / "snmpsim" / "data" / "recorded" / "eaton-9PX-partial-walk.snmprec"


# --- ups: Eaton 9PX, XUPS-MIB from the recording plus RFC 1628 UPS-MIB ---------------------------------------
def ups_records(host: str, location: str, variant: str) -> dict[str, tuple[str, str]]:
    records = parse_snmprec(eaton_recording().read_text())
    records.update(_system("Eaton 9PX 2200i RT 3U (Network-M2)", "1.3.6.1.4.1.705.1", host, location))
    records[f"{XUPS}.1.1.0"] = ("4", "EATON")  # xupsIdentManufacturer (absent from the partial walk)
    u = UPS_MIB
    rfc = {
        f"{u}.1.1.0": ("4", "EATON"), f"{u}.1.2.0": ("4", "Eaton 9PX 2200i RT 3U"),
        f"{u}.1.3.0": ("4", "INV: 01.17.4945"), f"{u}.1.4.0": ("4", "Network-M2 2.0.5"),
        f"{u}.1.5.0": ("4", host), f"{u}.1.6.0": ("4", "main room row B"),
        f"{u}.2.1.0": ("2", "2"),        # upsBatteryStatus: batteryNormal(2)
        f"{u}.2.2.0": ("2", "0"),        # upsSecondsOnBattery: 0 on mains
        f"{u}.2.3.0": ("2", "287"),      # upsEstimatedMinutesRemaining (xupsBatTimeRemaining 17218 s)
        f"{u}.2.4.0": ("2", "100"),      # upsEstimatedChargeRemaining, percent
        f"{u}.2.5.0": ("2", "780"),      # upsBatteryVoltage, 0.1 V DC
        f"{u}.2.6.0": ("2", "0"),        # upsBatteryCurrent, 0.1 A
        f"{u}.2.7.0": ("2", "24"),       # upsBatteryTemperature, °C
        f"{u}.3.1.0": ("65", "0"),       # upsInputLineBads
        f"{u}.3.2.0": ("2", "1"),        # upsInputNumLines
        f"{u}.3.3.1.1.1": ("2", "1"),    # upsInputLineIndex
        f"{u}.3.3.1.2.1": ("2", "500"),  # upsInputFrequency, 0.1 Hz
        f"{u}.3.3.1.3.1": ("2", "243"),  # upsInputVoltage, V RMS
        f"{u}.3.3.1.4.1": ("2", "10"),   # upsInputCurrent, 0.1 A
        f"{u}.3.3.1.5.1": ("2", "210"),  # upsInputTruePower, W
        f"{u}.4.1.0": ("2", "3"),        # upsOutputSource: normal(3)
        f"{u}.4.2.0": ("2", "500"),      # upsOutputFrequency, 0.1 Hz
        f"{u}.4.3.0": ("2", "1"),        # upsOutputNumLines
        f"{u}.4.4.1.1.1": ("2", "1"),    # upsOutputLineIndex
        f"{u}.4.4.1.2.1": ("2", "231"),  # upsOutputVoltage, V RMS
        f"{u}.4.4.1.3.1": ("2", "8"),    # upsOutputCurrent, 0.1 A
        f"{u}.4.4.1.4.1": ("2", "190"),  # upsOutputPower, W
        f"{u}.4.4.1.5.1": ("2", "9"),    # upsOutputPercentLoad
        f"{u}.6.1.0": ("66", "0"),       # upsAlarmsPresent
    }
    records.update(rfc)
    if variant in ("on-battery", "low-runtime"):
        low = variant == "low-runtime"
        minutes, charge = (4, 12) if low else (38, 86)
        records.update({
            f"{u}.2.1.0": ("2", "3" if low else "2"),           # batteryLow(3) / batteryNormal(2)
            f"{u}.2.2.0": ("2", "2100" if low else "95"),
            f"{u}.2.3.0": ("2", str(minutes)), f"{u}.2.4.0": ("2", str(charge)),
            f"{u}.2.5.0": ("2", "702" if low else "744"), f"{u}.2.6.0": ("2", "-62"),
            f"{u}.3.1.0": ("65", "1"),
            f"{u}.3.3.1.2.1": ("2", "0"), f"{u}.3.3.1.3.1": ("2", "0"), f"{u}.3.3.1.4.1": ("2", "0"),
            f"{u}.3.3.1.5.1": ("2", "0"),
            f"{u}.4.1.0": ("2", "5"),                           # upsOutputSource: battery(5)
            f"{u}.6.1.0": ("66", "2" if low else "1"),
            f"{u}.6.2.1.1.1": ("2", "1"),
            f"{u}.6.2.1.2.1": ("6", "1.3.6.1.2.1.33.1.6.3.2"),  # upsAlarmOnBattery
            f"{u}.6.2.1.3.1": ("67", "8630000"),
            f"{XUPS}.2.1.0": ("2", str(minutes * 60)),          # xupsBatTimeRemaining, s
            f"{XUPS}.2.2.0": ("2", "70" if low else "74"),      # xupsBatVoltage, V
            f"{XUPS}.2.4.0": ("2", str(charge)),                # xupsBatCapacity, %
            f"{XUPS}.2.5.0": ("2", "2"),                        # xupsBatteryAbmStatus: batteryDischarging(2)
            f"{XUPS}.3.2.0": ("65", "1"),                       # xupsInputLineBads
            f"{XUPS}.3.4.1.2.1": ("2", "0"),                    # xupsInputVoltage
            f"{XUPS}.4.5.0": ("2", "5"),                        # xupsOutputSource: battery(5)
        })
        if low:
            records.update({f"{u}.6.2.1.1.2": ("2", "2"),
                            f"{u}.6.2.1.2.2": ("6", "1.3.6.1.2.1.33.1.6.3.3"),  # upsAlarmLowBattery
                            f"{u}.6.2.1.3.2": ("67", "8638000")})
    return records


# --- sensors: Eaton/MGE EMP rows (MG-SNMP-UPS-MIB) ------------------------------------------------------------
# probe index -> (name, input 1 name, input 2 name)
EMP_PROBES = {1: ("cold-aisle-a", "water-leak underfloor row A", "smoke ceiling row A"),
              2: ("hot-aisle-a", "door machine-room main", "spare")}
CLOSED, OPEN = 1, 2


def sensors_records(host: str, location: str, variant: str) -> dict[str, tuple[str, str]]:
    # probe -> [temperature 0.1 °C, humidity %RH, input 1 state, input 2 state]
    state = {1: [215, 45, OPEN, OPEN], 2: [245, 42, CLOSED, OPEN]}
    if variant == "hot-aisle":
        state[1][0], state[2][0] = 278, 315
    elif variant == "leak":
        state[1][2] = CLOSED
    elif variant == "smoke":
        state[1][3] = CLOSED
    elif variant == "door-open":
        state[2][2] = OPEN
    elif variant == "humid":
        state[1][1], state[2][1] = 82, 78
    records = _system("Eaton Environment Monitoring Probe (EMP) via Network-M2", "1.3.6.1.4.1.705.1", host,
                      location)
    for probe, (name, in1, in2) in EMP_PROBES.items():
        temp, hum, s1, s2 = state[probe]
        config = {1: ("2", str(probe)), 2: ("4", name), 3: ("2", "5"), 4: ("2", "40"), 5: ("2", "2"),
                  6: ("2", "5"), 7: ("2", "90"), 8: ("2", "5"), 9: ("4", in1), 10: ("4", "closed"),
                  11: ("4", "open"), 12: ("4", in2), 13: ("4", "closed"), 14: ("4", "open")}
        sensor = {1: ("2", str(probe)), 2: ("2", "2"), 3: ("2", str(temp)),
                  4: ("2", "1" if temp < 50 else "2"), 5: ("2", "1" if temp > 400 else "2"),
                  6: ("2", str(hum)), 7: ("2", "1" if hum < 5 else "2"), 8: ("2", "1" if hum > 90 else "2"),
                  9: ("2", str(s1)), 10: ("2", str(s2))}
        records.update({f"{EMP_CONFIG}.{col}.{probe}": v for col, v in config.items()})
        records.update({f"{EMP_SENSOR}.{col}.{probe}": v for col, v in sensor.items()})
    return records


# --- pdu: APC rPDU2 metered outlets -----------------------------------------------------------------------------
def pdu_records(host: str, location: str, variant: str, rack: str) -> dict[str, tuple[str, str]]:
    names = [f"{rack}-srv-{n:02d}" for n in range(1, 9)]
    watts = [612, 540, 498, 575, 455, 530, 480, 510]  # 4200 W
    if variant == "over-budget":
        watts = [1190, 1150, 1120, 1180, 1100, 1230, 1210, 1220]  # 9400 W
    records = _system(f"APC Metered Rack PDU AP8853 ({rack})", "1.3.6.1.4.1.318.1.3.4.5", host, location)
    for i, (name, w) in enumerate(zip(names, watts, strict=True), start=1):
        amps_tenths = round(w / 230 * 10)
        state = "4" if amps_tenths > 160 else ("3" if amps_tenths > 120 else "2")
        records.update({f"{RPDU2_OUTLET}.1.{i}": ("2", str(i)), f"{RPDU2_OUTLET}.2.{i}": ("2", "1"),
                        f"{RPDU2_OUTLET}.3.{i}": ("4", name), f"{RPDU2_OUTLET}.4.{i}": ("2", str(i)),
                        f"{RPDU2_OUTLET}.5.{i}": ("2", state), f"{RPDU2_OUTLET}.6.{i}": ("2", str(amps_tenths)),
                        f"{RPDU2_OUTLET}.7.{i}": ("2", str(w))})
    records[RPDU2_DEVICE_POWER] = ("2", str(round(sum(watts) / 10)))
    return records


def records_for(profile: str, host: str, variant: str, *, location: str = "", rack: str = "") -> str:
    """The snmprec text a host of `profile` serves in `variant`."""
    if profile not in VARIANTS:
        raise ValueError(f"unknown snmp profile {profile!r}; known: {', '.join(VARIANTS)}")
    if variant not in VARIANTS[profile]:
        raise ValueError(f"{host}: no variant {variant!r} for a {profile}; known: {', '.join(VARIANTS[profile])}")
    if profile == "ups":
        return render(ups_records(host, location, variant))
    if profile == "sensors":
        return render(sensors_records(host, location, variant))
    return render(pdu_records(host, location, variant, rack or host))
