"""The alert notifier: `notify(settings, level, service, message)` posts `[LEVEL] [APP_TARGET] service message`
to the Discord webhook (INTMAX_ALERT_WEBHOOK_URL), at most once per suppression period per distinct alert.

- No webhook configured: the alert is only logged (its text, at the level's log level).
- An identical alert (same level, service and message) delivered less than INTMAX_ALERT_SUPPRESS_SECONDS
  ago is not sent again; the state is the warehouse table `alert_deliveries`, shared by every process.
- A delivery that fails is logged and returned as a `DeliveryResult`; `notify` never raises, so an
  alert can never crash the job that raised it. If the warehouse cannot be read, the alert is sent
  anyway: a duplicate is better than a lost alert.
- The webhook URL is a secret: it is in no log line, exception or result, except that on the devnet
  the log names it as the destination (its token there is a placeholder).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from intmax_core.alerts.discord import WEBHOOK_LABEL, post_to_webhook
from intmax_core.alerts.levels import AlertLevel, alert_text, dedupe_key, truncate_for_discord
from intmax_core.alerts.suppression import Claim, claim_send, confirm_send, release_claim
from intmax_core.config import Settings
from intmax_core.warehouse.engine import shared_engine

log = logging.getLogger(__name__)


class DeliveryStatus(enum.StrEnum):
    SENT = "sent"  # posted, the webhook answered 2xx
    SUPPRESSED = "suppressed"  # an identical alert was delivered within the suppression period
    LOGGED = "logged"  # no webhook configured: logged only
    FAILED = "failed"  # the webhook could not be reached or refused it (see `error`)


@dataclass(frozen=True)
class DeliveryResult:
    """What became of one alert. Holds no secret: `error` never contains the webhook URL."""

    status: DeliveryStatus
    level: AlertLevel
    service: str
    text: str
    dedupe_key: str
    attempts: int = 0
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is DeliveryStatus.SENT


def alert_destination(settings: Settings) -> str:
    """Where alerts go, as it may be logged: the URL only on the devnet."""
    if settings.alert_webhook_url is None:
        return "the log only (INTMAX_ALERT_WEBHOOK_URL is not set)"
    if settings.network == "devnet":
        return settings.alert_webhook_url.get_secret_value()
    return WEBHOOK_LABEL


def notify(
    settings: Settings,
    level: AlertLevel,
    service: str,
    message: str,
    *,
    engine: Engine | None = None,
    dedupe_on: str | None = None,
) -> DeliveryResult:
    """Raise one alert (see the module docstring). Never raises.

    `dedupe_on` says what makes two alerts "the same" when it is not the whole message: a monitor
    whose message quotes figures that move every run (balances, block numbers) dedupes on the state
    it reports instead, or suppression would never apply.
    """
    text = alert_text(level, settings.alert_app_target, service, message)
    key = dedupe_key(level, service, message if dedupe_on is None else dedupe_on)

    def result(status: DeliveryStatus, attempts: int = 0, error: str | None = None) -> DeliveryResult:
        return DeliveryResult(status, level, service, text, key, attempts, error)

    if settings.alert_webhook_url is None:
        log.log(level.log_level, text)
        return result(DeliveryStatus.LOGGED)
    url = settings.alert_webhook_url.get_secret_value()
    destination = alert_destination(settings)
    now = datetime.now(UTC)
    claim: Claim | None = None
    suppression_unavailable = False
    engine = engine or shared_engine(settings.warehouse_url)
    try:
        claim = claim_send(
            engine,
            key,
            level=level.value,
            service=service,
            message=message,
            now=now,
            suppress_seconds=settings.alert_suppress_seconds,
        )
    except SQLAlchemyError as error:
        # The table is unreachable (or not migrated): send without suppression rather than not at all.
        suppression_unavailable = True
        log.warning("alert suppression unavailable (%s); sending without it", type(error).__name__)
    if claim is None and not suppression_unavailable:
        log.info("alert suppressed (an identical one was sent within %gs): %s", settings.alert_suppress_seconds, text)
        return result(DeliveryStatus.SUPPRESSED)

    try:
        outcome = post_to_webhook(url, truncate_for_discord(text))
        delivered, attempts, error_text = outcome.delivered, outcome.attempts, outcome.error
    except Exception as error:  # never let an alert crash its job; the type alone says enough
        delivered, attempts, error_text = False, 1, f"unexpected {type(error).__name__} while posting"
    _record(engine, claim, delivered, error_text)
    if delivered:
        log.log(level.log_level, "alert sent to %s: %s", destination, text)
        return result(DeliveryStatus.SENT, attempts)
    log.error(
        "alert delivery to %s failed after %d attempt(s): %s; alert was: %s", destination, attempts, error_text, text
    )
    return result(DeliveryStatus.FAILED, attempts, error_text)


def _record(engine: Engine, claim: Claim | None, delivered: bool, error: str | None) -> None:
    if claim is None:
        return
    try:
        if delivered:
            confirm_send(engine, claim)
        else:
            release_claim(engine, claim, error or "delivery failed", datetime.now(UTC))
    except SQLAlchemyError as db_error:
        log.warning("could not record the alert delivery (%s)", type(db_error).__name__)
