"""Observability: Prometheus metrics, the request id, JSON logs and the access log (docs/operations.md).

Framework glue only; the domain reaches it through `kit.telemetry.metrics` (counters incremented after
commit) and never the other way round.
"""
