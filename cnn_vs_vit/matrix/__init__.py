"""Experiments as matrices of runs: experiment files -> cells -> train, probe, report (`cnnvit run`)."""
