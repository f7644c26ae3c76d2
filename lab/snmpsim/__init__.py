"""The main room's UPS, environment probe and rack PDUs as snmpsim agents."""
