"""Indexing on the devnet: tables equal the chain, through reorgs, crashes and RPC faults."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from intmax_core.chain.rpc import RpcClient
from intmax_core.config import Settings
from intmax_core.indexing import coverage
from intmax_core.indexing.indexer import IndexStats, StreamIndexer, safe_head
from intmax_core.indexing.streams import STREAMS_BY_NAME, stream_source
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.schema import stream_ranges
from intmax_devnet import accounts
from intmax_devnet.deployer import transact
from intmax_devnet.devnet import RunningDevnet, web3_for
from intmax_devnet.simulator import SimulationPlan
from tests.conftest import PROJECT_ROOT
from tests.devnet_activity import contract, full_flow
from tests.indexing_helpers import assert_tables_equal_chain, index_all
from tests.rpc_fault_proxy import FaultPlan, RpcFaultProxy

PLAN = SimulationPlan(seed=21, users=3, deposits=8, withdrawals=4, builders=2, blocks=2)


@pytest.fixture
def indexed_settings(devnet_settings: Settings, warehouse_url: str) -> Settings:
    migrate.upgrade(warehouse_url)
    return devnet_settings.model_copy(update={"database_url": warehouse_url})


def test_indexed_history_equals_the_chain(devnet: RunningDevnet, indexed_settings: Settings) -> None:
    url = indexed_settings.warehouse_url
    full_flow(devnet, url, PLAN)
    index_all(indexed_settings, url, initial_range=3, max_range=8)
    counts = assert_tables_equal_chain(devnet, indexed_settings, url)
    # The flow emits every indexed event type but DirectWithdrawalFailed (no payout fails here).
    assert {event for event, n in counts.items() if n == 0} == {"DirectWithdrawalFailed"}
    # Indexing again changes nothing (idempotent), and so does a full re-index of the same range.
    index_all(indexed_settings, url)
    engine = make_engine(url)
    source = stream_source(indexed_settings, STREAMS_BY_NAME["l1_liquidity"])
    with RpcClient(indexed_settings.l1_rpc_urls) as client:
        StreamIndexer(engine, client, client.chain_id(), source).index(0, client.block_number())
    engine.dispose()
    assert assert_tables_equal_chain(devnet, indexed_settings, url) == counts


def _deposit(devnet: RunningDevnet, amount: int) -> None:
    l1 = web3_for(devnet.manifest.l1.rpc_url)
    liquidity = contract(l1, devnet.manifest, "liquidity")
    salt = os.urandom(32)
    transact(l1, liquidity.functions.depositNativeToken(salt, b"", b""), accounts.role("builder").address, value=amount)


@pytest.mark.parametrize("depth", [2, 6], ids=["shallower-than-confirmations", "deeper-than-confirmations"])
def test_reorg_leaves_exactly_the_new_canonical_chain(
    devnet: RunningDevnet, devnet_settings: Settings, tmp_path: Path, depth: int
) -> None:
    confirmations = 3
    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate.upgrade(url)
    settings = devnet_settings.model_copy(
        update={"database_url": url, "l1_confirmations": confirmations, "l2_confirmations": confirmations}
    )
    l1 = web3_for(devnet.manifest.l1.rpc_url)
    for i in range(4):
        _deposit(devnet, 10**15 * (i + 1))
    fork_point = l1.provider.make_request("evm_snapshot", [])["result"]
    for i in range(depth):
        _deposit(devnet, 10**16 * (i + 1))  # one block each: these are the blocks the reorg replaces
    index_all(settings, url)  # the newest `confirmations` blocks are not final and stay unindexed
    indexed_before = l1.eth.block_number - confirmations
    # Replace the last `depth` blocks with a different, longer history.
    assert l1.provider.make_request("evm_revert", [fork_point])["result"] is True
    for i in range(depth + 1):
        _deposit(devnet, 10**17 * (i + 1))
    l1.provider.make_request("anvil_mine", [hex(confirmations)])
    assert l1.eth.block_number > indexed_before

    engine = make_engine(url)
    source = stream_source(settings, STREAMS_BY_NAME["l1_liquidity"])
    with RpcClient(settings.l1_rpc_urls) as client:
        indexer = StreamIndexer(engine, client, client.chain_id(), source)
        stats = IndexStats()
        indexer.repair_reorg(stats)
        indexer.index_uncovered(0, safe_head(client, confirmations))
    # Only a reorg deeper than the confirmation window reaches indexed rows and needs a rollback.
    assert (stats.reorg_rollback_to is not None) == (depth > confirmations)
    index_all(settings, url)
    assert_tables_equal_chain(devnet, settings, url)


def test_killed_indexing_run_leaves_no_gap_or_duplicate(
    devnet: RunningDevnet, devnet_settings: Settings, tmp_path: Path
):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate.upgrade(url)
    settings = devnet_settings.model_copy(update={"database_url": url})
    full_flow(devnet, url, PLAN)
    l1 = web3_for(devnet.manifest.l1.rpc_url)
    l1.provider.make_request("anvil_mine", [hex(300)])  # many empty blocks: many one-block chunks
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTMAX_")}
    env |= {"INTMAX_DATA_DIR": str(settings.data_dir), "INTMAX_DATABASE_URL": url}
    script = (
        "import time\n"
        "from intmax_core.config import load_settings\n"
        "from intmax_core.chain.rpc import RpcClient\n"
        "from intmax_core.indexing.indexer import StreamIndexer\n"
        "from intmax_core.indexing.streams import STREAMS_BY_NAME, stream_source\n"
        "from intmax_core.warehouse.engine import make_engine\n"
        "s = load_settings()\n"
        "with RpcClient(s.l1_rpc_urls) as c:\n"
        "    source = stream_source(s, STREAMS_BY_NAME['l1_liquidity'])\n"
        "    StreamIndexer(make_engine(s.warehouse_url), c, c.chain_id(), source, initial_range=1, max_range=1)"
        ".index(0, c.block_number())\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, start_new_session=True)
    engine = make_engine(url)
    deadline = time.monotonic() + 60
    progress = 0
    while time.monotonic() < deadline and worker.poll() is None:
        with engine.connect() as connection:
            progress = connection.execute(select(stream_ranges.c.to_block)).scalar() or 0
        if progress > devnet.manifest.contracts["liquidity"].block_number + 20:
            break
        time.sleep(0.05)
    assert worker.poll() is None, "the indexing run finished before it could be killed"
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    with engine.connect() as connection:
        cursor = coverage.read_cursor(connection, "l1_liquidity", l1.eth.chain_id)
    assert cursor is not None and cursor.block_number < l1.eth.block_number  # killed mid-way
    engine.dispose()
    index_all(settings, url)
    assert_tables_equal_chain(devnet, settings, url)


def test_rpc_faults_do_not_change_the_result(devnet: RunningDevnet, devnet_settings: Settings, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate.upgrade(url)
    settings = devnet_settings.model_copy(update={"database_url": url})
    full_flow(devnet, url, PLAN)
    proxies = {
        chain: RpcFaultProxy(
            getattr(devnet.manifest, chain).rpc_url, FaultPlan.random(seed=7, failure_rate=0.3), slow_seconds=1.5
        )
        for chain in ("l1", "l2")
    }
    try:
        for proxy in proxies.values():
            proxy.start()
            proxy.limit_log_range(16)
        # Enough attempts that a 30 % fault rate cannot exhaust them; a timeout below the proxy's delay.
        index_all(
            settings,
            url,
            {chain: [p.url] for chain, p in proxies.items()},
            client_options={"max_attempts": 20, "timeout": 1.0, "backoff_max": 0.5},
            initial_range=4,
            max_range=64,
        )
        assert sum(p.faults_injected for p in proxies.values()) > 0
    finally:
        for proxy in proxies.values():
            proxy.stop()
    assert_tables_equal_chain(devnet, settings, url)
