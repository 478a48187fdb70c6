"""Every indexing asset check fails when the data is wrong, and says where.

Each test indexes a few real deposits from the devnet, checks that the audit passes, then breaks
the warehouse the way a bug or a reorg would (a corrupted hash, a lost row, a lost range, a
lagging cursor, a missing deposit id) and checks that the audit fails with a message naming it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg
import pytest
from sqlalchemy import Engine, delete, func, insert, select, update

from intmax_assets.definitions import build_resources
from intmax_assets.defs.indexing import build_stream_asset
from intmax_assets.defs.indexing.assets import IndexingConfig
from intmax_core.chain.rpc import RpcClient
from intmax_core.config import Settings
from intmax_core.indexing import coverage
from intmax_core.indexing.audits import Severity, StreamAuditor
from intmax_core.indexing.indexer import StreamIndexer
from intmax_core.indexing.streams import STREAMS_BY_NAME, stream_source
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.event_tables import EVENT_TABLES
from intmax_core.warehouse.schema import check_watermarks, stream_cursors, stream_ranges
from intmax_devnet import accounts
from intmax_devnet.deployer import transact
from intmax_devnet.devnet import RunningDevnet, web3_for
from tests.devnet_activity import contract

LIQUIDITY = STREAMS_BY_NAME["l1_liquidity"]
DEPOSITS = 5
DEPOSITED = EVENT_TABLES["Deposited"]


@pytest.fixture
def indexed(devnet: RunningDevnet, devnet_settings: Settings, warehouse_url: str) -> Iterator[StreamAuditor]:
    """l1_liquidity indexed up to the head after DEPOSITS deposits (one block each)."""
    l1 = web3_for(devnet.manifest.l1.rpc_url)
    liquidity = contract(l1, devnet.manifest, "liquidity")
    for _ in range(DEPOSITS):
        call = liquidity.functions.depositNativeToken(os.urandom(32), b"", b"")
        transact(l1, call, accounts.role("builder").address, value=10**15)
    migrate.upgrade(warehouse_url)
    engine = make_engine(warehouse_url)
    source = stream_source(devnet_settings, LIQUIDITY)
    with RpcClient(devnet_settings.l1_rpc_urls) as client:
        StreamIndexer(engine, client, client.chain_id(), source).index(0, client.block_number())
        yield StreamAuditor(engine, client, client.chain_id(), source)
    engine.dispose()


def _execute(engine: Engine, statement) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as connection:
        connection.execute(statement)


def _newest_deposit_block(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.max(DEPOSITED.c.block_number))).scalar_one()


def test_cursor_matches_chain_fails_on_a_foreign_cursor_hash(indexed: StreamAuditor) -> None:
    assert indexed.cursor_matches_chain().passed
    _execute(indexed.engine, update(stream_cursors).values(block_hash="0x" + "ab" * 32))
    verdict = indexed.cursor_matches_chain()
    assert not verdict.passed and "0x" + "ab" * 32 in verdict.message and "on chain" in verdict.message


def test_no_missing_block_ranges_fails_on_a_hole(indexed: StreamAuditor) -> None:
    assert indexed.no_missing_block_ranges().passed
    start = indexed.source.start_block
    with indexed.engine.begin() as connection:
        (whole,) = coverage.covered_ranges(connection, LIQUIDITY.name, indexed.chain_id)
        connection.execute(delete(stream_ranges))
        # The coverage loses blocks start+2 .. start+3, as a crashed writer without its lock might.
        for piece in (
            coverage.BlockRange(start, start + 1, "0x" + "00" * 32),
            coverage.BlockRange(start + 4, whole.to_block, whole.to_block_hash),
        ):
            connection.execute(
                insert(stream_ranges).values(
                    stream=LIQUIDITY.name,
                    chain_id=indexed.chain_id,
                    from_block=piece.from_block,
                    to_block=piece.to_block,
                    to_block_hash=piece.to_block_hash,
                )
            )
    verdict = indexed.no_missing_block_ranges()
    assert not verdict.passed
    assert f"{start + 2}..{start + 3}" in verdict.message and verdict.metadata["missing_blocks"] == 2


def test_recent_blocks_canonical_fails_when_a_stored_block_was_reorged(indexed: StreamAuditor) -> None:
    assert indexed.recent_blocks_canonical().passed
    # A block below the tip: checking the tip alone would not see it.
    block = _newest_deposit_block(indexed.engine) - 1
    _execute(
        indexed.engine,
        update(DEPOSITED).where(DEPOSITED.c.block_number == block).values(block_hash="0x" + "cd" * 32),
    )
    verdict = indexed.recent_blocks_canonical()
    assert not verdict.passed and str(block) in verdict.message and verdict.metadata["blocks_differing"] == 1


def test_log_counts_match_chain_fails_when_a_log_is_lost(indexed: StreamAuditor) -> None:
    assert indexed.log_counts_match_chain().passed
    block = _newest_deposit_block(indexed.engine)
    _execute(indexed.engine, delete(DEPOSITED).where(DEPOSITED.c.block_number == block))
    verdict = indexed.log_counts_match_chain()
    assert not verdict.passed
    assert f"block {block}: 0 stored, 1 on chain" in verdict.message


def test_cursor_lag_blocks_warns_then_errors(indexed: StreamAuditor) -> None:
    with indexed.engine.connect() as connection:
        cursor = coverage.read_cursor(connection, LIQUIDITY.name, indexed.chain_id)
    assert cursor is not None
    head = cursor.block_number + 10  # as if the chain had moved on by 10 final blocks
    assert indexed.cursor_lag_blocks(head, warn_above=10, error_above=20).passed
    warn = indexed.cursor_lag_blocks(head, warn_above=5, error_above=20)
    assert not warn.passed and warn.severity is Severity.WARN and warn.metadata["lag_blocks"] == 10
    error = indexed.cursor_lag_blocks(head, warn_above=5, error_above=9)
    assert not error.passed and error.severity is Severity.ERROR and "more than 9" in error.message


def test_deposit_ids_contiguous_fails_on_a_missing_id_and_reads_only_new_ids(indexed: StreamAuditor) -> None:
    first = indexed.deposit_ids_contiguous()
    assert first.passed and first.metadata["ids_read"] == DEPOSITS
    with indexed.engine.connect() as connection:
        assert connection.execute(select(check_watermarks.c.verified_up_to)).scalar_one() == DEPOSITS
    # Verified ids are not read again.
    assert indexed.deposit_ids_contiguous().metadata["ids_read"] == 0

    # A new id arrives past a gap (id DEPOSITS + 1 lost): found by reading the new ids alone.
    with indexed.engine.begin() as connection:
        newest = dict(connection.execute(select(DEPOSITED).where(DEPOSITED.c.deposit_id == DEPOSITS)).mappings().one())
        connection.execute(
            insert(DEPOSITED).values({**newest, "block_number": newest["block_number"] + 1, "deposit_id": DEPOSITS + 2})
        )
    gap = indexed.deposit_ids_contiguous()
    assert not gap.passed and gap.metadata["ids_read"] == 1
    assert f"deposit id(s) {DEPOSITS + 1} missing before {DEPOSITS + 2}" in gap.message
    _execute(indexed.engine, delete(DEPOSITED).where(DEPOSITED.c.deposit_id == DEPOSITS + 2))

    # A reorg removes the newest id (the watermark's own row) and a lost write left a gap at 3:
    # the watermark is reset, all ids are read again, and the gap is named.
    _execute(indexed.engine, delete(DEPOSITED).where(DEPOSITED.c.deposit_id.in_([3, DEPOSITS])))
    verdict = indexed.deposit_ids_contiguous()
    assert not verdict.passed and "3" in verdict.message and "missing before 4" in verdict.message


def test_a_failing_check_reaches_dagster_with_its_severity(
    devnet: RunningDevnet, devnet_settings: Settings, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate.upgrade(url)
    # A tail run limited to 1 block leaves the cursor far behind the head: an ERROR lag.
    settings = devnet_settings.model_copy(
        update={
            "database_url": url,
            "indexing_tail_max_blocks": 1,
            "l1_cursor_lag_warn_blocks": 0,
            "l1_cursor_lag_error_blocks": 1,
        }
    )
    l1 = web3_for(devnet.manifest.l1.rpc_url)
    day = datetime.fromtimestamp(l1.eth.get_block("latest")["timestamp"], UTC).date().isoformat()
    result = dg.materialize(
        [build_stream_asset(LIQUIDITY, settings)],
        partition_key=day,
        resources=build_resources(settings),
        run_config=dg.RunConfig(ops={"l1_liquidity_events": IndexingConfig(tail=True)}),
    )
    assert result.success
    (lag,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "cursor_lag_blocks"]
    assert not lag.passed and lag.severity == dg.AssetCheckSeverity.ERROR
    assert "behind the safe head" in lag.description
    metadata = result.asset_materializations_for_node("l1_liquidity_events")[0].metadata
    assert metadata["run_blocks_indexed"].value == 1 and metadata["partition_complete"].value is False
