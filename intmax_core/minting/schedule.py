"""When a Minter action is due: a pure function of the last action's block time and the clock.

The rule (the original mint-executor's, in UTC; docs/protocol.md §8.5 for the contract):

- no earlier action of that kind: due iff `now >= available_from` (INTMAX_MINT_AVAILABLE_FROM);
- otherwise both `now` and the last action's L1 block time are truncated to UTC midnight, and the
  action is due iff `now_midnight >= last_midnight + weeks * 7 days`: 4 weeks for `mint`, 1 for
  `transfer_to_liquidity`.

The original truncated in the process's local time zone and measured from the time it wrote its
record; here every time is UTC and the reference is the block time of the action on chain.

A due action belongs to a *period*, named by the UTC date it became due (`2026-12-29`); the period
is the transaction ledger's idempotency key, so one period is sent at most once, whoever decides it
and however often.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

# transferToLiquidity's amount: 3,910,156.25 ITX at 18 decimals (the original's constant).
TRANSFER_TO_LIQUIDITY_AMOUNT = 3_910_156_250000000000000000
ITX_DECIMALS = 18


class MinterAction(enum.StrEnum):
    MINT = "mint"
    TRANSFER_TO_LIQUIDITY = "transfer_to_liquidity"

    @property
    def interval(self) -> timedelta:
        return timedelta(weeks=INTERVAL_WEEKS[self])

    @property
    def purpose(self) -> str:
        """The transaction ledger's purpose for this action (`intmax tx requeue <purpose> <period>`)."""
        return f"minter_{self.value}"


INTERVAL_WEEKS = {MinterAction.MINT: 4, MinterAction.TRANSFER_TO_LIQUIDITY: 1}
# mint first: on a first run the transfer needs the tokens the mint creates.
ACTIONS = (MinterAction.MINT, MinterAction.TRANSFER_TO_LIQUIDITY)


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC. A naive datetime is refused: guessing its zone is the original's bug."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: a time zone is required")
    return moment.astimezone(UTC)


def utc_midnight(moment: datetime) -> datetime:
    """The start (00:00 UTC) of the UTC day that contains `moment`."""
    return datetime.combine(as_utc(moment).date(), time(0), tzinfo=UTC)


def period_key(due: date) -> str:
    """The idempotency key of the period that became due on `due` (a UTC date)."""
    return due.isoformat()


@dataclass(frozen=True)
class Decision:
    """Whether `action` is due at `now`, and the period it would act for."""

    action: MinterAction
    due: bool
    due_at: datetime | None  # when the current period becomes (or became) due; None = never (gate unset)
    period_key: str | None  # the ledger key of that period; None when no period can be named
    last_action_at: datetime | None  # block time of the last action this counts from
    reason: str


def decide(
    action: MinterAction, last_action_at: datetime | None, now: datetime, available_from: datetime | None
) -> Decision:
    """Whether `action` is due at `now` (see the module docstring).

    `available_from` gates only the first action; None means that no first action is ever due.
    """
    now = as_utc(now)
    if last_action_at is None:
        if available_from is None:
            return Decision(
                action, False, None, None, None, "no earlier action and INTMAX_MINT_AVAILABLE_FROM is not set"
            )
        available_from = as_utc(available_from)
        due = now >= available_from
        verb = "has passed" if due else "is later"
        return Decision(
            action,
            due,
            available_from,
            period_key(available_from.date()),
            None,
            f"no earlier {action.value}; INTMAX_MINT_AVAILABLE_FROM {available_from.isoformat()} {verb}",
        )
    last_action_at = as_utc(last_action_at)
    due_at = utc_midnight(last_action_at) + action.interval
    due = utc_midnight(now) >= due_at
    weeks = INTERVAL_WEEKS[action]
    return Decision(
        action,
        due,
        due_at,
        period_key(due_at.date()),
        last_action_at,
        f"last {action.value} at {last_action_at.isoformat()} (block time); "
        f"{weeks} week(s) after its UTC day is {due_at.date().isoformat()}" + ("" if due else ", not yet"),
    )


# The devnet's default gate: the epoch, so that a fresh devnet mints at once.
DEVNET_AVAILABLE_FROM = datetime(1970, 1, 1, tzinfo=UTC)


def effective_available_from(configured: datetime | None, network: str) -> datetime | None:
    """INTMAX_MINT_AVAILABLE_FROM in UTC; unset = at once on the devnet, never elsewhere.

    On a real network the first mint is an explicit operator decision: without the setting the
    pipeline only continues a schedule that already has an action on chain.
    """
    if configured is not None:
        return as_utc(configured)
    return DEVNET_AVAILABLE_FROM if network == "devnet" else None
