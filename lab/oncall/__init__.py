"""The on-call sink where the lab's Alertmanager receivers post."""
