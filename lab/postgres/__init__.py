"""A real PostgreSQL 15 primary and its streaming standby."""
