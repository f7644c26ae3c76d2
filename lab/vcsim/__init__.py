"""The lab vCenter: govmomi's simulator shaped into the facility."""
