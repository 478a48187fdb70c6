"""Index the whole devnet and compare the tables with the chain (shared by the indexing tests)."""

from __future__ import annotations

from intmax_core.chain.rpc import RpcClient
from intmax_core.config import Settings
from intmax_core.indexing import coverage
from intmax_core.indexing.indexer import IndexStats, StreamIndexer, safe_head
from intmax_core.indexing.streams import STREAMS, stream_source
from intmax_core.warehouse.engine import make_engine
from intmax_devnet.devnet import RunningDevnet, web3_for
from tests.chain_oracle import chain_rows, table_rows


def index_all(
    settings: Settings, url: str, rpc_urls: dict[str, list[str]] | None = None, *, client_options=None, **fetcher
) -> None:
    """Index every stream from its deployment block to the safe head."""
    engine = make_engine(url)
    for stream in STREAMS:
        chain = stream.chain
        urls = (rpc_urls or {}).get(chain) or getattr(settings, f"{chain}_rpc_urls")
        with RpcClient(urls, name=chain, **(client_options or {})) as client:
            head = safe_head(client, getattr(settings, f"{chain}_confirmations"))
            indexer = StreamIndexer(engine, client, client.chain_id(), stream_source(settings, stream), **fetcher)
            indexer.repair_reorg(IndexStats())
            indexer.index_uncovered(0, head)
    engine.dispose()


def assert_tables_equal_chain(devnet: RunningDevnet, settings: Settings, url: str) -> dict[str, int]:
    """Every stream's tables equal what the chain returns; returns the row count per event type."""
    engine = make_engine(url)
    counts: dict[str, int] = {}
    for stream in STREAMS:
        w3 = web3_for(getattr(devnet.manifest, stream.chain).rpc_url)
        head = w3.eth.block_number - getattr(settings, f"{stream.chain}_confirmations")
        expected = chain_rows(w3, devnet.manifest, stream, head)
        source = stream_source(settings, stream)
        actual = table_rows(engine, w3.eth.chain_id, stream, source.address)
        assert actual == expected, stream.name
        for event, rows in expected.items():
            counts[event] = counts.get(event, 0) + len(rows)
        with engine.connect() as connection:
            cursor = coverage.read_cursor(connection, stream.name, w3.eth.chain_id)
        assert cursor is not None and cursor.block_number == head
        assert cursor.block_hash == "0x" + w3.eth.get_block(head)["hash"].hex()
    engine.dispose()
    return counts
