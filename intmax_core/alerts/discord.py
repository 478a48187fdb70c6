"""Posting one message to a Discord webhook: `POST <url>` with `{"content": text}`, 2xx = delivered.

The URL is the secret (its path holds the webhook token), so nothing here ever puts it in a log
line, an exception or the returned outcome: httpx's own request log line is redacted, and error
descriptions are scrubbed of it.

Retries are few on purpose: an alert that cannot be posted must not hold up the job that raised
it. A 429 is retried once if Discord asks for a short wait (≤ 5 s); a network error or a 5xx once,
after a pause; anything else is given up at once and reported to the caller.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

import httpx

from intmax_core.chain.url_redaction import redact_in_httpx_logs

WEBHOOK_TIMEOUT_SECONDS = 10.0
RATE_LIMIT_MAX_WAIT_SECONDS = 5.0
RETRY_PAUSE_SECONDS = 1.0
WEBHOOK_LABEL = "Discord webhook (configured)"


@dataclass(frozen=True)
class WebhookOutcome:
    """What one delivery came to. `error` never contains the webhook URL."""

    delivered: bool
    attempts: int
    status_code: int | None = None
    error: str | None = None


def post_to_webhook(
    url: str,
    content: str,
    *,
    timeout: float = WEBHOOK_TIMEOUT_SECONDS,
    max_retry_after: float = RATE_LIMIT_MAX_WAIT_SECONDS,
    retry_pause: float = RETRY_PAUSE_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> WebhookOutcome:
    """Post `content`; at most two attempts (see the module docstring). Never raises for a failed delivery."""
    redact_in_httpx_logs(url, WEBHOOK_LABEL)
    attempts = 0
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        while True:
            attempts += 1
            retry_allowed = attempts == 1
            try:
                response = client.post(url, json={"content": content})
            except httpx.HTTPError as error:
                description = f"network error: {_scrub(f'{type(error).__name__}: {error}', url)}"
                if retry_allowed:
                    sleep(retry_pause)
                    continue
                return WebhookOutcome(False, attempts, None, description)
            status = response.status_code
            if 200 <= status < 300:
                return WebhookOutcome(True, attempts, status)
            if status == 429:
                wait = _retry_after(response)
                if retry_allowed and wait is not None and wait <= max_retry_after:
                    sleep(wait)
                    continue
                asked = "no valid retry_after" if wait is None else f"retry after {wait:g} s"
                return WebhookOutcome(False, attempts, status, f"rate limited by Discord (HTTP 429, {asked})")
            if status >= 500 and retry_allowed:
                sleep(retry_pause)
                continue
            return WebhookOutcome(False, attempts, status, f"webhook answered HTTP {status}")


def _retry_after(response: httpx.Response) -> float | None:
    """Discord's wait in seconds: the JSON body's `retry_after` (fractional), else the Retry-After header."""
    candidates: list[object] = []
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        candidates.append(body.get("retry_after"))
    candidates.append(response.headers.get("retry-after"))
    for candidate in candidates:
        if isinstance(candidate, bool) or candidate is None:
            continue
        try:
            seconds = float(candidate)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if seconds >= 0:
            return seconds
    return None


def _scrub(text: str, url: str) -> str:
    """`text` without the URL or its path (the webhook id and token), should an error quote them."""
    for secret in (url, str(httpx.URL(url)), urlparse(url).path):
        if secret and secret != "/":
            text = text.replace(secret, "***")
    return text
