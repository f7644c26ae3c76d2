"""The simulated network devices: the shared base, fake-switches (fakeswitch) and FakeNOS (fakenos)."""
