"""Rewards program configuration, achievements, the points ledger and the rewards shop."""
