"""Redfish BMCs (sushy-tools' emulator, fake driver)."""
