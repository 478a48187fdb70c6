"""Alert levels and the alert text: `[LEVEL] [APP_TARGET] {service} {message}`, as the originals posted it."""

from __future__ import annotations

import enum
import hashlib
import logging

# Discord rejects a message whose content is longer than this (HTTP 400).
DISCORD_CONTENT_LIMIT = 2000
TRUNCATION_MARKER = "… [truncated]"


class AlertLevel(enum.StrEnum):
    INFO = "INFO"
    WARN = "WARN"
    FATAL = "FATAL"

    @property
    def log_level(self) -> int:
        return {AlertLevel.INFO: logging.INFO, AlertLevel.WARN: logging.WARNING, AlertLevel.FATAL: logging.CRITICAL}[
            self
        ]


def alert_text(level: AlertLevel, app_target: str, service: str, message: str) -> str:
    """The full text of an alert, exactly as posted (before truncation)."""
    return f"[{level.value}] [{app_target}] {service} {message}"


def truncate_for_discord(text: str, limit: int = DISCORD_CONTENT_LIMIT) -> str:
    """`text`, or its head with a marker when Discord would reject it as too long."""
    if len(text) <= limit:
        return text
    return text[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


def dedupe_key(level: AlertLevel, service: str, message: str) -> str:
    """Identical alerts (same level, service and message) share this key; a NUL separates the parts,
    so ("a b", "c") and ("a", "b c") differ."""
    return hashlib.sha256("\0".join((level.value, service, message)).encode()).hexdigest()
