"""The feed agent that moves batch data files between zones."""
