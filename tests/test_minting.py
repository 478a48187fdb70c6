"""ITX minting: the UTC period rule, and mint / transferToLiquidity on the devnet with chain time moved.

The devnet tests move anvil's clock forward (evm_setNextBlockTimestamp + evm_mine); the `devnet`
fixture reverts each test's chain to its snapshot afterwards, which also restores the chain's time
(checked by `test_devnet_time_is_restored_between_tests`). The decision clock is injected and
follows the chain's newest block time, as a real deployment's wall clock follows real blocks.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select
from web3 import Web3

from intmax_assets.definitions import build_definitions, build_resources
from intmax_assets.defs.minting import MINTER_ACTIONS_NOT_OVERDUE, build_minting_definitions
from intmax_core.chain.rpc import RpcClient
from intmax_core.chain.signers import SignerRole, signer_for_role
from intmax_core.config import Settings, SettingsError, load_settings
from intmax_core.minting.executor import MinterExecutor, MinterRun, token_manager_sender
from intmax_core.minting.history import from_db
from intmax_core.minting.schedule import (
    DEVNET_AVAILABLE_FROM,
    TRANSFER_TO_LIQUIDITY_AMOUNT,
    MinterAction,
    decide,
    effective_available_from,
)
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.minter_tables import minter_actions
from intmax_core.warehouse.tables import metadata
from intmax_devnet import accounts
from intmax_devnet.deployer import transact
from intmax_devnet.devnet import RunningDevnet, web3_for
from tests.devnet_activity import contract
from tests.indexing_helpers import index_all

MINT, TRANSFER = MinterAction.MINT, MinterAction.TRANSFER_TO_LIQUIDITY
DEVNET_MINT_AMOUNT = 1_000_000 * 10**18  # the devnet IntmaxToken's fixed mint


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def midnight(moment: datetime) -> datetime:
    return datetime.combine(moment.date(), datetime.min.time(), tzinfo=UTC)


# ------------------------------------------------------------------------------ the decision rule


def test_first_action_is_gated_by_mint_available_from() -> None:
    gate = utc(2026, 12, 1, 12, 0, 0)
    for action in (MINT, TRANSFER):
        before = decide(action, None, gate - timedelta(microseconds=1), gate)
        at = decide(action, None, gate, gate)
        assert (before.due, at.due) == (False, True)
        assert at.period_key == "2026-12-01" and at.due_at == gate
    never = decide(MINT, None, utc(2100, 1, 1), None)
    assert not never.due and never.period_key is None and "INTMAX_MINT_AVAILABLE_FROM" in never.reason


@pytest.mark.parametrize(
    ("action", "last", "not_yet", "due", "key"),
    [
        # mint: 4 weeks after the UTC day of the last mint, whatever its time of day
        (MINT, utc(2026, 12, 1, 23, 59, 59), utc(2026, 12, 28, 23, 59, 59, 999999), utc(2026, 12, 29), "2026-12-29"),
        (MINT, utc(2026, 12, 1, 0, 0, 0), utc(2026, 12, 28, 23, 59, 59), utc(2026, 12, 29, 0, 0, 1), "2026-12-29"),
        # transferToLiquidity: 1 week; across a month and a year boundary
        (TRANSFER, utc(2026, 12, 31, 18), utc(2027, 1, 6, 23, 59, 59), utc(2027, 1, 7), "2027-01-07"),
        (TRANSFER, utc(2027, 2, 22, 0, 0, 1), utc(2027, 2, 28, 23, 59), utc(2027, 3, 1, 0, 0), "2027-03-01"),
    ],
)
def test_later_actions_follow_utc_days(
    action: MinterAction, last: datetime, not_yet: datetime, due: datetime, key: str
) -> None:
    gate = utc(2020, 1, 1)
    early, on_time = decide(action, last, not_yet, gate), decide(action, last, due, gate)
    assert not early.due and on_time.due
    assert early.period_key == on_time.period_key == key
    assert on_time.due_at == midnight(last) + timedelta(weeks=4 if action is MINT else 1)
    assert on_time.last_action_at == last
    # Late by days, it is still the same period: sending it late cannot make it a new one.
    assert decide(action, last, due + timedelta(days=3), gate).period_key == key


def test_days_are_utc_days_not_local_ones() -> None:
    """Truncating in a local zone (the original's bug) would move the boundaries by the zone's offset."""
    tokyo, new_york = timezone_of(9), timezone_of(-5)
    last = datetime(2026, 12, 1, 20, 0, tzinfo=new_york)  # 2026-12-02 01:00 UTC: UTC day 12-02
    # 2026-12-09 08:59 in Tokyo is already the 9th locally but still 12-08 23:59 UTC: not due
    assert not decide(TRANSFER, last, datetime(2026, 12, 9, 8, 59, tzinfo=tokyo), DEVNET_AVAILABLE_FROM).due
    decision = decide(TRANSFER, last, datetime(2026, 12, 9, 9, 0, tzinfo=tokyo), DEVNET_AVAILABLE_FROM)
    assert decision.due and decision.due_at == utc(2026, 12, 9) and decision.due_at.tzinfo == UTC
    with pytest.raises(ValueError, match="naive"):
        decide(TRANSFER, datetime(2026, 12, 1), utc(2026, 12, 9), DEVNET_AVAILABLE_FROM)
    with pytest.raises(ValueError, match="naive"):
        decide(TRANSFER, last, datetime(2026, 12, 9), DEVNET_AVAILABLE_FROM)


def timezone_of(hours: int):  # type: ignore[no-untyped-def]
    from datetime import timezone

    return timezone(timedelta(hours=hours))


def test_mint_available_from_setting() -> None:
    configured = load_settings(mint_available_from="2026-12-01T09:00:00+09:00")
    assert effective_available_from(configured.mint_available_from, "mainnet") == utc(2026, 12, 1, 0, 0)
    unset = load_settings(mint_available_from="")
    assert effective_available_from(unset.mint_available_from, "devnet") == DEVNET_AVAILABLE_FROM
    assert effective_available_from(unset.mint_available_from, "mainnet") is None
    with pytest.raises(SettingsError, match="INTMAX_MINT_AVAILABLE_FROM: Input should have timezone info"):
        load_settings(mint_available_from="2026-12-01T00:00:00")
    with pytest.raises(SettingsError, match="INTMAX_MINTING_SCHEDULE_CRON"):
        load_settings(minting_schedule_cron="5 0 * *")


def test_daily_schedule_runs_in_utc() -> None:
    defs = build_definitions(load_settings(minting_schedule_cron="7 0 * * *"))
    [schedule] = [s for s in defs.schedules or [] if s.name == "minter_actions_schedule"]
    assert isinstance(schedule, dg.ScheduleDefinition) and schedule.target.assets_defs[0].key.path == ["minter_actions"]
    assert schedule.cron_schedule == "7 0 * * *" and schedule.execution_timezone == "UTC"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_minter_actions_table_matches_its_migration(warehouse_url: str) -> None:
    migrate.upgrade(warehouse_url)
    engine = make_engine(warehouse_url)
    with engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)
    engine.dispose()
    assert [diff for diff in diffs if "minter_actions" in str(diff)] == []
    assert all(column.comment for column in minter_actions.columns) and minter_actions.comment


# ------------------------------------------------------------------------------ devnet helpers


class Chain:
    """The devnet L1 seen by a test: its clock, the Minter's events and balances, wallet 4's nonce."""

    def __init__(self, devnet: RunningDevnet) -> None:
        self.manifest = devnet.manifest
        self.w3 = web3_for(devnet.manifest.l1.rpc_url)
        self.minter = contract(self.w3, devnet.manifest, "minter")
        self.itx = contract(self.w3, devnet.manifest, "itx")
        self.token_manager = devnet.manifest.accounts["token_manager"]

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.w3.eth.get_block("latest")["timestamp"], UTC)

    def move_to(self, moment: datetime) -> None:
        self.w3.provider.make_request("evm_setNextBlockTimestamp", [int(moment.timestamp())])
        self.w3.provider.make_request("evm_mine", [])
        assert self.now() == moment

    def events(self, name: str) -> int:
        return len(getattr(self.minter.events, name)().get_logs(from_block=0))

    def nonce(self) -> int:
        return self.w3.eth.get_transaction_count(Web3.to_checksum_address(self.token_manager))

    def itx_balance(self, holder: str) -> int:
        return self.itx.functions.balanceOf(Web3.to_checksum_address(holder)).call()

    def mint_directly(self, times: int) -> None:
        """mint() from the token manager outside the pipeline (as an operator or the old service would)."""
        for _ in range(times):
            transact(self.w3, self.minter.functions.mint(), self.token_manager)


def _settings(devnet_settings: Settings, warehouse_url: str) -> Settings:
    migrate.upgrade(warehouse_url)
    return devnet_settings.model_copy(update={"database_url": warehouse_url})


def _run(settings: Settings, now: datetime, available_from: datetime | None, max_lag: int | None = None) -> MinterRun:
    """One pass of the executor, as the asset runs it, with the clock at `now`."""
    engine = make_engine(settings.warehouse_url)
    try:
        with RpcClient(settings.l1_rpc_urls, name="l1") as client:
            sender = token_manager_sender(
                client,
                engine,
                signer_for_role(settings, SignerRole.TOKEN_MANAGER),
                client.chain_id(),
                max_fee_per_gas=int(settings.l1_max_fee_per_gas_gwei * 10**9),
            )
            executor = MinterExecutor(
                engine,
                client,
                sender,
                minter=settings.minter_address,
                available_from=available_from,
                max_cursor_lag_blocks=settings.l1_cursor_lag_error_blocks if max_lag is None else max_lag,
            )
            return executor.run(now)
    finally:
        engine.dispose()


def _rows(settings: Settings) -> list[dict]:
    engine = make_engine(settings.warehouse_url)
    with engine.connect() as connection:
        rows = [dict(r) for r in connection.execute(select(minter_actions).order_by(minter_actions.c.id)).mappings()]
    engine.dispose()
    return rows


def _did(run: MinterRun) -> dict[str, str]:
    return {report.action.value: report.did for report in run.reports}


# ------------------------------------------------------------------------------ devnet


def test_devnet_time_is_restored_between_tests(devnet: RunningDevnet) -> None:
    """The devnet fixture's evm_revert restores the clock: moving it here cannot leak into other tests."""
    chain = Chain(devnet)
    start = chain.now()
    snapshot = chain.w3.provider.make_request("evm_snapshot", [])["result"]
    chain.move_to(start + timedelta(days=60))
    assert chain.w3.provider.make_request("evm_revert", [snapshot])["result"] is True
    assert chain.now() < start + timedelta(days=1)


def test_token_manager_is_wallet_4(devnet_settings: Settings, devnet: RunningDevnet) -> None:
    chain = Chain(devnet)
    signer = signer_for_role(devnet_settings, SignerRole.TOKEN_MANAGER)
    assert signer.address == chain.token_manager == accounts.account(4).address.lower()
    role = chain.minter.functions.TOKEN_MANAGER_ROLE().call()
    assert chain.minter.functions.hasRole(role, Web3.to_checksum_address(signer.address)).call()


def test_nothing_is_decided_while_the_minter_index_is_missing_or_behind(
    devnet: RunningDevnet, devnet_settings: Settings, warehouse_url: str
) -> None:
    """An unindexed Minter history is "unknown", not "no earlier action": a first mint must not follow."""
    settings = _settings(devnet_settings, warehouse_url)
    chain = Chain(devnet)
    nonce = chain.nonce()
    run = _run(settings, chain.now(), DEVNET_AVAILABLE_FROM)
    assert _did(run) == {"mint": "waiting", "transfer_to_liquidity": "waiting"}
    assert all(r.overdue and "no cursor" in (r.error or "") for r in run.reports)
    index_all(settings, settings.warehouse_url)
    for _ in range(3):
        chain.w3.provider.make_request("evm_mine", [])
    run = _run(settings, chain.now(), DEVNET_AVAILABLE_FROM, max_lag=2)
    assert _did(run)["mint"] == "waiting" and "3 blocks behind" in (run.reports[0].error or "")
    assert chain.nonce() == nonce and _rows(settings) == []


def test_transfer_waits_for_the_gate_then_goes_weekly_never_twice(
    devnet: RunningDevnet, devnet_settings: Settings, warehouse_url: str
) -> None:
    settings = _settings(devnet_settings, warehouse_url)
    chain = Chain(devnet)
    liquidity = devnet.manifest.contracts["liquidity"].address
    chain.mint_directly(4)  # 4,000,000 ITX in the Minter: one transfer's worth, not two
    last_mint = chain.now()
    gate = midnight(last_mint) + timedelta(days=1)
    index_all(settings, settings.warehouse_url)

    # Before the gate: no first transfer; the mint counts from the direct (indexed) mints.
    run = _run(settings, chain.now(), gate)
    assert _did(run) == {"mint": "not due", "transfer_to_liquidity": "not due"}
    assert run.reports[0].last_action is not None and run.reports[0].last_action.source == "indexed event"
    assert run.reports[0].after.due_at == midnight(last_mint) + timedelta(weeks=4)
    chain.move_to(gate - timedelta(seconds=1))
    assert _did(_run(settings, chain.now(), gate))["transfer_to_liquidity"] == "not due"
    nonce = chain.nonce()

    # At the gate: exactly one transfer, recorded with its block and block time.
    chain.move_to(gate + timedelta(minutes=5))
    before = chain.itx_balance(liquidity)
    run = _run(settings, chain.now(), gate)
    assert _did(run) == {"mint": "not due", "transfer_to_liquidity": "sent"}
    assert chain.nonce() == nonce + 1 and chain.events("TransferredToLiquidity") == 1
    assert chain.itx_balance(liquidity) - before == TRANSFER_TO_LIQUIDITY_AMOUNT
    [row] = _rows(settings)
    block = chain.w3.eth.get_block(row["block_number"])
    assert (row["action"], row["period_key"], row["status"]) == (
        "transfer_to_liquidity",
        gate.date().isoformat(),
        "done",
    )
    assert row["amount"] == TRANSFER_TO_LIQUIDITY_AMOUNT and row["tx_hash"] == "0x" + block["transactions"][0].hex()
    assert from_db(row["block_time"]) == datetime.fromtimestamp(block["timestamp"], UTC)
    assert not run.reports[1].overdue and run.reports[1].after.due_at == midnight(gate) + timedelta(weeks=1)

    # The same period again, before the transfer is indexed and after: nothing is sent.
    chain.move_to(gate + timedelta(hours=20))
    assert _did(_run(settings, chain.now(), gate))["transfer_to_liquidity"] == "not due"
    index_all(settings, settings.warehouse_url)
    chain.move_to(midnight(gate) + timedelta(weeks=1) - timedelta(seconds=1))
    assert _did(_run(settings, chain.now(), gate))["transfer_to_liquidity"] == "not due"
    assert chain.nonce() == nonce + 1 and chain.events("TransferredToLiquidity") == 1

    # A week on: due, but the Minter holds less than the amount: parked, with what to do; nothing mined.
    chain.move_to(midnight(gate) + timedelta(weeks=1))
    run = _run(settings, chain.now(), gate)
    report = run.reports[1]
    assert report.did == "sent" and report.status is not None and report.status.value == "parked"
    assert "InsufficientBalance" in report.error and "intmax tx requeue minter_transfer_to_liquidity" in report.error
    assert report.overdue
    assert chain.nonce() == nonce + 1 and chain.events("TransferredToLiquidity") == 1
    # The next run resumes the parked period instead of deciding a new one: still one row for it.
    run = _run(settings, chain.now() + timedelta(hours=1), gate)
    assert _did(run)["transfer_to_liquidity"] == "resumed" and run.reports[1].status.value == "parked"
    assert [r["status"] for r in _rows(settings)] == ["done", "parked"]


def test_asset_mints_every_four_utc_weeks_and_warns_when_overdue(
    devnet: RunningDevnet, devnet_settings: Settings, warehouse_url: str
) -> None:
    """The Dagster asset, materialized as the daily schedule does, with a clock that follows the chain."""
    settings = _settings(devnet_settings, warehouse_url)
    chain = Chain(devnet)
    chain.mint_directly(4)
    first_mint = chain.now()
    index_all(settings, settings.warehouse_url)
    [asset], _ = build_minting_definitions(settings, clock=chain.now)
    resources = build_resources(settings)

    def materialize() -> tuple[dict, dg.AssetCheckEvaluation]:
        result = dg.materialize([asset], resources=resources)
        assert result.success
        [materialization] = result.asset_materializations_for_node("minter_actions")
        [check] = result.get_asset_check_evaluations()
        assert check.check_name == MINTER_ACTIONS_NOT_OVERDUE
        return {k: v.value for k, v in materialization.metadata.items()}, check

    # Day 0 (devnet default gate: at once): the first transfer goes; the mint counts from the direct ones.
    metadata, check = materialize()
    assert metadata["sent"] == 1 and metadata["mint_decision"]["did"] == "not due"
    assert metadata["mint_next_due_at"] == (midnight(first_mint) + timedelta(weeks=4)).timestamp()
    assert check.passed and chain.events("TransferredToLiquidity") == 1

    # The last second before the mint's day: not due; the weekly transfer is, and parks (1 transfer's worth).
    chain.move_to(midnight(first_mint) + timedelta(weeks=4) - timedelta(seconds=1))
    metadata, check = materialize()
    assert metadata["mint_decision"]["did"] == "not due" and chain.events("Minted") == 4
    assert metadata["transfer_to_liquidity_decision"]["status"] == "parked"
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "transfer_to_liquidity due since" in check.description

    # The mint's UTC day: exactly one mint, however often the schedule runs that day.
    chain.move_to(midnight(first_mint) + timedelta(weeks=4, minutes=5))
    nonce = chain.nonce()
    metadata, _ = materialize()
    assert metadata["mint_decision"]["did"] == "sent" and metadata["mint_decision"]["status"] == "done"
    assert chain.events("Minted") == 5 and chain.nonce() == nonce + 1
    chain.move_to(midnight(first_mint) + timedelta(weeks=4, hours=23))
    metadata, _ = materialize()
    assert metadata["sent"] == 0 and metadata["mint_decision"]["did"] == "not due"
    assert chain.events("Minted") == 5 and chain.nonce() == nonce + 1
    assert metadata["mint_next_due_at"] == (midnight(first_mint) + timedelta(weeks=8)).timestamp()
    assert metadata["rows_mint_done"] == 1 and metadata["rows_transfer_to_liquidity_parked"] == 1


def test_concurrent_runs_and_a_crash_never_send_a_period_twice(
    devnet: RunningDevnet, devnet_settings: Settings, warehouse_url: str
) -> None:
    settings = _settings(devnet_settings, warehouse_url)
    chain = Chain(devnet)
    index_all(settings, settings.warehouse_url)
    gate = chain.now()
    nonce, minted = chain.nonce(), chain.events("Minted")

    # Two runs at once, each with its own engine and sender: one mint() (and no transfer: 1M < 3.9M ITX).
    runs: list[MinterRun] = []
    errors: list[BaseException] = []

    def one_run() -> None:
        try:
            runs.append(_run(settings, gate, gate))
        except BaseException as error:  # reported below; a thread's exception would be lost
            errors.append(error)

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert chain.events("Minted") == minted + 1 and chain.nonce() == nonce + 1
    assert chain.itx_balance(devnet.manifest.contracts["minter"].address) == DEVNET_MINT_AMOUNT
    mint_rows = [r for r in _rows(settings) if r["action"] == "mint"]
    assert len(mint_rows) == 1 and mint_rows[0]["status"] == "done"

    # A crash after broadcasting, before recording: the row is written, the transaction mined, the
    # row left pending. The next run resumes the period from the ledger and sends nothing.
    chain.move_to(midnight(gate) + timedelta(weeks=4, minutes=1))
    later = _rows(settings)
    engine = make_engine(settings.warehouse_url)
    with RpcClient(settings.l1_rpc_urls, name="l1") as client:
        sender = token_manager_sender(
            client,
            engine,
            signer_for_role(settings, SignerRole.TOKEN_MANAGER),
            client.chain_id(),
            max_fee_per_gas=None,
        )
        period = (midnight(gate) + timedelta(weeks=4)).date().isoformat()
        with engine.begin() as connection:
            connection.execute(
                minter_actions.insert().values(
                    action="mint",
                    period_key=period,
                    chain_id=client.chain_id(),
                    minter=settings.minter_address,
                    signer=sender.signer.address,
                    due_at=midnight(gate) + timedelta(weeks=4),
                    decided_at=chain.now(),
                    reason="crash test",
                    status="pending",
                )
            )
        assert sender.send("minter_mint", period, settings.minter_address, bytes.fromhex("1249c58b")).ok
    engine.dispose()
    assert chain.events("Minted") == minted + 2 and len(_rows(settings)) == len(later) + 1
    run = _run(settings, chain.now(), gate)
    assert _did(run)["mint"] == "resumed" and run.reports[0].status.value == "done"
    assert chain.events("Minted") == minted + 2 and chain.nonce() == nonce + 2
    assert [r["status"] for r in _rows(settings) if r["action"] == "mint"] == ["done", "done"]
