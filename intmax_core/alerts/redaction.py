"""Keeping configured secrets out of alert texts built from error messages.

An exception raised deep in a job may quote what it was handed: an RPC URL with a provider key in
its path, a database URL with a password, a key. Before such text goes into an alert (a Discord
channel is read by more people than the logs), every configured secret value is replaced.
"""

from __future__ import annotations

from pydantic import SecretStr

from intmax_core.config import Settings

REDACTED = "***"
# Non-SecretStr settings that may carry credentials (API keys in RPC paths, database passwords).
URL_SETTINGS = ("l1_rpc_urls", "l2_rpc_urls", "database_url", "redis_url")
MIN_SECRET_LENGTH = 4  # shorter values would blank out ordinary words


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret value, longest first (so a URL goes before the token inside it)."""
    values: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr):
            values.append(value.get_secret_value())
    for name in URL_SETTINGS:
        value = getattr(settings, name, None)
        values.extend(value if isinstance(value, list) else [value] if isinstance(value, str) else [])
    return sorted({v for v in values if v and len(v) >= MIN_SECRET_LENGTH}, key=len, reverse=True)


def redact_secrets(text: str, settings: Settings) -> str:
    for secret in secret_values(settings):
        text = text.replace(secret, REDACTED)
    return text
