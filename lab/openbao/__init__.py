"""The lab's Vault: a real OpenBao server."""
