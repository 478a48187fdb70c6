"""Alerts to the operators: one notifier (INFO, WARN, FATAL) posting to a Discord webhook, with
cross-process suppression of repeats (see notifier.py)."""

from intmax_core.alerts.levels import AlertLevel, alert_text, dedupe_key
from intmax_core.alerts.notifier import DeliveryResult, DeliveryStatus, alert_destination, notify
from intmax_core.alerts.redaction import redact_secrets

__all__ = [
    "AlertLevel",
    "DeliveryResult",
    "DeliveryStatus",
    "alert_destination",
    "alert_text",
    "dedupe_key",
    "notify",
    "redact_secrets",
]
