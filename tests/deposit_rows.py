"""Deposit rows written straight into a warehouse, for API and metrics tests that need a few."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import insert

from intmax_core.warehouse.deposits_tables import deposits
from intmax_core.warehouse.engine import make_engine

DEPOSITOR = "0x" + "a1" * 20
DEPOSITED_AT = datetime(2026, 3, 1, tzinfo=UTC)


def fake_hash(n: int) -> str:
    return "0x" + f"{n:064x}"


def insert_deposits(url: str, statuses: list[str]) -> None:
    """Deposits 1..n by DEPOSITOR, one per status, in ETH (token index 0)."""
    engine = make_engine(url)
    with engine.begin() as connection:
        for deposit_id, status in enumerate(statuses, start=1):
            connection.execute(
                insert(deposits).values(
                    deposit_id=deposit_id,
                    depositor=DEPOSITOR,
                    recipient_salt_hash=fake_hash(100 + deposit_id),
                    token_index=0,
                    amount=10**18,
                    is_eligible=True,
                    status=status,
                    deposit_hash=fake_hash(200 + deposit_id),
                    deposit_tx_hash=fake_hash(300 + deposit_id),
                    deposit_block_number=10 + deposit_id,
                    deposited_at=DEPOSITED_AT,
                )
            )
    engine.dispose()
