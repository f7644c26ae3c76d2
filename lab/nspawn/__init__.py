"""Real Linux hosts for the lab: Debian 12 machines with systemd as PID 1, booted with systemd-nspawn."""
