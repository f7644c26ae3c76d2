"""Cisco IOS and Arista EOS switches on fake-switches 1.5.0, with the lab's extensions."""
