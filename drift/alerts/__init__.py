"""Alerts: one message per verdict change (drifted, broken, recovered), through an outbox, via apprise."""
