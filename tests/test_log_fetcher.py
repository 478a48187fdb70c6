"""Adaptive eth_getLogs: provider hints, range adaptation, and exact results against a real anvil."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from web3 import Web3

from intmax_core.chain.blocks import get_block_headers
from intmax_core.chain.log_fetcher import (
    MAX_ADDRESSES_PER_REQUEST,
    LogChunk,
    LogFetcher,
    PossiblyTruncatedLogs,
    fetch_logs,
)
from intmax_core.chain.range_hints import is_oversized_request, suggested_range
from intmax_core.chain.rpc import RpcClient, RpcError
from intmax_core.indexing.range_caps import load_cap, save_cap
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.migrate import upgrade
from intmax_devnet.anvil import AnvilChain, start_anvil
from intmax_devnet.deployer import contract_at, deploy_contract
from intmax_devnet.devnet import web3_for
from tests.rpc_fault_proxy import SLOW, FaultPlan, RpcFaultProxy, rpc_error

CHAIN_ID = 31_337_002
HEARTBEAT_TOPIC = "0x" + Web3.keccak(text="BlockBuilderHeartbeat(address,string)").hex().removeprefix("0x")
UNUSED_TOPIC = "0x" + "ab" * 32  # a second topic0 in the OR-list that matches nothing
# Emission plan: rounds of 1-6 heartbeat transactions mined into one block, then a gap of empty blocks.
EMIT_ROUNDS = 50
MAX_TX_PER_ROUND = 6
MAX_GAP_BLOCKS = 60
FAST = {"backoff_base": 0.01, "backoff_max": 0.05}


@dataclass
class EventChain:
    anvil: AnvilChain
    registries: list[str]
    head: int

    def direct_logs(
        self, addresses: list[str], topics0: list[str], to_block: int | None = None
    ) -> list[dict[str, Any]]:
        """One unlimited eth_getLogs straight to anvil (from block 0 to the head): the ground truth."""
        last = self.head if to_block is None else to_block
        log_filter = {"address": addresses, "topics": [topics0], "fromBlock": "0x0", "toBlock": hex(last)}
        request = {"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [log_filter]}
        return httpx.post(self.anvil.rpc_url, json=request).json()["result"]


def _rpc(http: httpx.Client, url: str, payload: Any) -> Any:
    response = http.post(url, json=payload).json()
    for item in response if isinstance(response, list) else [response]:
        assert "result" in item, item
    return response


@pytest.fixture(scope="module")
def events() -> Iterator[EventChain]:
    """Two BlockBuilderRegistry contracts with a few hundred heartbeats spread over ~1,500 blocks."""
    anvil = start_anvil(CHAIN_ID)
    try:
        w3 = web3_for(anvil.rpc_url)
        sender = w3.eth.accounts[0]
        registries = [deploy_contract(w3, "BlockBuilderRegistry", [], sender)[0] for _ in range(2)]
        calldata = [
            contract_at(w3, "BlockBuilderRegistry", registries[0]).encode_abi("emitHeartbeat", args=[f"https://b{i}"])
            for i in range(4)
        ]
        nonce = w3.eth.get_transaction_count(sender)
        rng = random.Random(42)
        with httpx.Client() as http:
            # Several transactions per block need manual mining; automine would give each its own block.
            _rpc(http, anvil.rpc_url, {"jsonrpc": "2.0", "id": 0, "method": "evm_setAutomine", "params": [False]})
            for _ in range(EMIT_ROUNDS):
                batch = []
                for offset in range(rng.randint(1, MAX_TX_PER_ROUND)):
                    tx = {
                        "from": sender,
                        "to": rng.choice(registries),
                        "data": rng.choice(calldata),
                        "gas": hex(200_000),
                        "nonce": hex(nonce + offset),
                    }
                    batch.append({"jsonrpc": "2.0", "id": offset, "method": "eth_sendTransaction", "params": [tx]})
                nonce += len(batch)
                _rpc(http, anvil.rpc_url, batch)
                gap = rng.randint(1, MAX_GAP_BLOCKS)
                _rpc(http, anvil.rpc_url, {"jsonrpc": "2.0", "id": 0, "method": "anvil_mine", "params": [hex(gap)]})
        yield EventChain(anvil, registries, w3.eth.block_number)
    finally:
        anvil.stop()


@pytest.fixture
def proxy(events: EventChain) -> Iterator[RpcFaultProxy]:
    with RpcFaultProxy(events.anvil.rpc_url, slow_seconds=1.0) as running:
        yield running


def _assert_covers(chunks: list[LogChunk], from_block: int, to_block: int) -> None:
    assert chunks[0].from_block == from_block
    assert chunks[-1].to_block == to_block
    for previous, following in itertools.pairwise(chunks):
        assert following.from_block == previous.to_block + 1


def _all_logs(chunks: list[LogChunk]) -> list[dict[str, Any]]:
    return [entry for chunk in chunks for entry in chunk.logs]


# -- against anvil ----------------------------------------------------------------------------------


def test_the_fixture_has_enough_logs(events: EventChain) -> None:
    logs = events.direct_logs(events.registries, [HEARTBEAT_TOPIC])
    assert len(logs) > 100
    assert len({entry["blockNumber"] for entry in logs}) < len(logs)  # some blocks hold several logs


@pytest.mark.parametrize("style", ["results", "alchemy", "infura", "quicknode"])
def test_a_refused_range_shrinks_and_still_returns_exactly_the_nodes_logs(
    events: EventChain, proxy: RpcFaultProxy, style: str
) -> None:
    limit = 150
    proxy.limit_log_range(limit, style=style)
    topics = [HEARTBEAT_TOPIC, UNUSED_TOPIC]
    with RpcClient([proxy.url], **FAST) as client:
        fetcher = LogFetcher(client)
        chunks = list(fetcher.fetch(events.registries, topics, 0, events.head))
    _assert_covers(chunks, 0, events.head)
    assert all(chunk.to_block - chunk.from_block + 1 <= limit for chunk in chunks)
    assert _all_logs(chunks) == events.direct_logs(events.registries, topics)
    stats = fetcher.stats
    assert stats.shrinks >= 1
    assert stats.requests == stats.chunks + stats.retries
    if style == "results":
        assert stats.provider_hints_used == 0  # no number in the message: halving only
    else:
        assert stats.provider_hints_used >= 1
    if style == "quicknode":
        # A stated plan cap becomes the fetcher's maximum: refused once, never again.
        assert (stats.shrinks, stats.max_range) == (1, limit)
        assert {chunk.to_block - chunk.from_block + 1 for chunk in chunks[:-1]} == {limit}


def test_the_range_grows_after_successes_up_to_the_maximum(events: EventChain) -> None:
    with RpcClient([events.anvil.rpc_url]) as client:
        fetcher = LogFetcher(client, initial_range=10, max_range=100)
        chunks = list(fetcher.fetch(events.registries, [HEARTBEAT_TOPIC], 0, events.head))
    spans = [chunk.to_block - chunk.from_block + 1 for chunk in chunks]
    assert spans[:8] == [10, 15, 23, 35, 53, 80, 100, 100]
    assert fetcher.stats.grows == 6
    assert fetcher.current_range == fetcher.stats.current_range == 100
    assert _all_logs(chunks) == events.direct_logs(events.registries, [HEARTBEAT_TOPIC])


def test_a_timeout_shrinks_the_range_instead_of_retrying_it(events: EventChain, proxy: RpcFaultProxy) -> None:
    proxy.queue_faults(SLOW)
    with RpcClient([proxy.url], timeout=0.5, **FAST) as client:
        fetcher = LogFetcher(client, initial_range=400, max_range=400)
        chunks = list(fetcher.fetch(events.registries, [HEARTBEAT_TOPIC], 0, events.head))
    assert (fetcher.stats.timeouts, fetcher.stats.shrinks) == (1, 1)
    assert chunks[0].to_block == 199  # retried from block 0 with half the range
    assert _all_logs(chunks) == events.direct_logs(events.registries, [HEARTBEAT_TOPIC])


def test_more_than_fifty_addresses_are_split_and_merged_in_chain_order(events: EventChain) -> None:
    rng = random.Random(3)
    strangers = ["0x" + rng.randbytes(20).hex() for _ in range(60)]
    addresses = [events.registries[0], *strangers, events.registries[1]]
    with RpcClient([events.anvil.rpc_url]) as client:
        chunks = list(fetch_logs(client, addresses, [HEARTBEAT_TOPIC], 0, events.head))
    assert _all_logs(chunks) == events.direct_logs(addresses, [HEARTBEAT_TOPIC])


def test_seeded_random_faults_still_yield_identical_logs_and_headers(events: EventChain) -> None:
    plan = FaultPlan(failure_rate=0.3, seed=2024, max_log_blocks=60, log_range_style="alchemy")
    with RpcFaultProxy(events.anvil.rpc_url, plan, slow_seconds=1.0) as proxy:
        _fetch_through_faults(events, proxy)


def _fetch_through_faults(events: EventChain, proxy: RpcFaultProxy) -> None:
    topics = [HEARTBEAT_TOPIC]
    expected = events.direct_logs(events.registries, topics)
    # 0.3**20: a call failing every attempt is out of the question; timeouts stay short.
    with RpcClient([proxy.url], timeout=0.5, max_attempts=20, **FAST) as client:
        fetcher = LogFetcher(client, initial_range=20, max_range=100)
        chunks = list(fetcher.fetch(events.registries, topics, 0, events.head))
        numbers = {int(entry["blockNumber"], 16) for entry in expected}
        headers = get_block_headers(client, numbers)
        assert client.stats.retries > 0
    _assert_covers(chunks, 0, events.head)
    assert _all_logs(chunks) == expected
    assert proxy.faults_injected > 5
    with RpcClient([events.anvil.rpc_url]) as direct:
        assert headers == get_block_headers(direct, numbers)
    for entry in expected:
        assert headers[int(entry["blockNumber"], 16)].hash == entry["blockHash"]


def test_a_provider_that_truncates_at_its_result_cap_still_yields_exactly_the_nodes_logs(
    events: EventChain, proxy: RpcFaultProxy
) -> None:
    # A provider that cuts results at its cap without an error: exactly `cap` logs may be incomplete.
    cap = 20
    proxy.truncate_logs(cap)
    with RpcClient([proxy.url], **FAST) as client:
        fetcher = LogFetcher(client, max_logs_per_chunk=cap)
        chunks = list(fetcher.fetch(events.registries, [HEARTBEAT_TOPIC], 0, events.head))
    assert proxy.faults["truncate_logs"] >= 1
    _assert_covers(chunks, 0, events.head)
    assert _all_logs(chunks) == events.direct_logs(events.registries, [HEARTBEAT_TOPIC])
    assert all(len(chunk.logs) < cap for chunk in chunks)


def test_a_cap_stated_in_one_run_bounds_every_request_of_the_next(
    events: EventChain, proxy: RpcFaultProxy, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    upgrade(url)
    engine = make_engine(url)
    cap = 150
    proxy.limit_log_range(cap, style="quicknode")
    learned: list[tuple[int, str]] = []

    def remember(max_blocks: int, provider: str) -> None:
        learned.append((max_blocks, provider))
        save_cap(engine, CHAIN_ID, max_blocks, provider)

    try:
        with RpcClient([proxy.url], **FAST) as client:
            first_run = LogFetcher(client, on_cap_learned=remember)
            list(first_run.fetch(events.registries, [HEARTBEAT_TOPIC], 0, events.head))
            assert learned == [(cap, "quicknode")]
            assert max(proxy.log_spans) > cap  # run 1 paid the refusal
            proxy.reset_counters()
            second_run = LogFetcher(client, learned_cap=load_cap(engine, CHAIN_ID), on_cap_learned=remember)
            chunks = list(second_run.fetch(events.registries, [HEARTBEAT_TOPIC], 0, events.head))
    finally:
        engine.dispose()
    assert max(proxy.log_spans) <= cap
    assert (second_run.stats.shrinks, second_run.stats.max_range) == (0, cap)
    assert learned == [(cap, "quicknode")]  # nothing new learned in run 2
    assert _all_logs(chunks) == events.direct_logs(events.registries, [HEARTBEAT_TOPIC])


def test_a_timeout_of_a_too_large_request_keeps_the_primary_url(events: EventChain) -> None:
    # The primary stalls on wide eth_getLogs only: it is healthy, the request was too big.
    to_block = 399
    with (
        RpcFaultProxy(events.anvil.rpc_url, slow_seconds=1.0) as primary,
        RpcFaultProxy(events.anvil.rpc_url) as backup,
    ):
        primary.stall_log_range(200)
        with RpcClient([primary.url, backup.url], timeout=0.5, **FAST) as client:
            fetcher = LogFetcher(client, initial_range=400, max_range=400)
            chunks = list(fetcher.fetch(events.registries, [HEARTBEAT_TOPIC], 0, to_block))
            assert client.stats.failovers == 0
        assert (fetcher.stats.timeouts, primary.log_spans) == (1, [400, 200, 200])
        assert backup.requests == 0
    assert _all_logs(chunks) == events.direct_logs(events.registries, [HEARTBEAT_TOPIC], to_block)


def test_an_invalid_range_error_raises_instead_of_shrinking(events: EventChain, proxy: RpcFaultProxy) -> None:
    # Shrinking would retry with a range the node happens to accept, and hide the first refusal.
    proxy.queue_faults(rpc_error(-32000, "invalid block range params"))
    with RpcClient([proxy.url], **FAST) as client, pytest.raises(RpcError, match="invalid block range") as raised:
        list(LogFetcher(client).fetch(events.registries, [HEARTBEAT_TOPIC], 0, events.head))
    assert proxy.log_spans == [events.head + 1]
    assert raised.value.__notes__ == [f"chain eth_getLogs over blocks 0..{events.head}"]


# -- request shape and range policy (scripted client, no chain) --------------------------------------


class ScriptedClient:
    """Answers eth_getLogs with one fake log per block, refusing spans above `max_blocks`."""

    name = "scripted"

    def __init__(self, max_blocks: int | None = None, refusal: tuple[int, str] = (-32005, "too many results")) -> None:
        self.max_blocks = max_blocks
        self.refusal = refusal
        self.filters: list[dict[str, Any]] = []
        self.retry_timeouts: list[bool] = []

    def call(self, method: str, params: list[Any], *, retry_timeouts: bool = True) -> Any:
        assert method == "eth_getLogs"
        log_filter = params[0]
        self.filters.append(log_filter)
        self.retry_timeouts.append(retry_timeouts)
        start, end = int(log_filter["fromBlock"], 16), int(log_filter["toBlock"], 16)
        if self.max_blocks is not None and end - start + 1 > self.max_blocks:
            raise RpcError(method, *self.refusal)
        return [
            {"address": address, "blockNumber": hex(number), "logIndex": hex(index)}
            for number in range(start, end + 1)
            for index, address in enumerate(log_filter["address"])
        ]


def test_request_shape_has_one_topic_or_list_and_at_most_fifty_addresses() -> None:
    client = ScriptedClient()
    addresses = [f"0x{index:040X}" for index in range(MAX_ADDRESSES_PER_REQUEST + 5)]
    chunks = list(fetch_logs(client, addresses, ["0xAA", "0xbb"], 7, 9))  # type: ignore[arg-type]
    assert [(chunk.from_block, chunk.to_block) for chunk in chunks] == [(7, 9)]
    first, second = client.filters
    assert first == {
        "address": [a.lower() for a in addresses[:50]],
        "topics": [["0xaa", "0xbb"]],
        "fromBlock": "0x7",
        "toBlock": "0x9",
    }
    assert second["address"] == [a.lower() for a in addresses[50:]]
    # Merged across both requests in (block, log index) order.
    keys = [(int(entry["blockNumber"], 16), int(entry["logIndex"], 16)) for entry in chunks[0].logs]
    assert keys == sorted(keys) and len(keys) == 3 * len(addresses)


def test_no_topics_means_no_topics_key_rather_than_trailing_nulls() -> None:
    client = ScriptedClient()
    list(fetch_logs(client, ["0x01"], [], 0, 0))  # type: ignore[arg-type]
    assert "topics" not in client.filters[0]
    with pytest.raises(ValueError):
        fetch_logs(client, [], ["0xaa"], 0, 0)  # type: ignore[arg-type]


def test_halving_reaches_the_limit_and_growth_resumes_from_there() -> None:
    client = ScriptedClient(max_blocks=300)
    fetcher = LogFetcher(client, initial_range=2_000, max_range=10_000)  # type: ignore[arg-type]
    chunks = list(fetcher.fetch(["0x01"], ["0xaa"], 0, 2_000))
    spans = [int(f["toBlock"], 16) - int(f["fromBlock"], 16) + 1 for f in client.filters]
    assert spans[:5] == [2_000, 1_000, 500, 250, 375]  # halve to 250, succeed, grow x1.5, refused again...
    _assert_covers(chunks, 0, 2_000)
    assert len(_all_logs(chunks)) == 2_001


def test_timeouts_are_retried_by_the_client_only_at_the_minimum_range() -> None:
    client = ScriptedClient(max_blocks=1)
    fetcher = LogFetcher(client, initial_range=4, max_range=4)  # type: ignore[arg-type]
    list(fetcher.fetch(["0x01"], [], 0, 3))
    # Spans 4 and 2 are refused, 1 succeeds (at the minimum: timeouts retried), then 2 is refused again.
    assert client.retry_timeouts[:4] == [False, False, True, False]


def test_a_refusal_at_the_minimum_range_raises() -> None:
    client = ScriptedClient(max_blocks=0)
    with pytest.raises(RpcError):
        fetcher = LogFetcher(client, initial_range=8, min_range=2, max_range=8)  # type: ignore[arg-type]
        list(fetcher.fetch(["0x01"], [], 0, 100))
    assert [int(f["toBlock"], 16) - int(f["fromBlock"], 16) + 1 for f in client.filters] == [8, 4, 2]


def test_errors_that_are_not_about_size_propagate_at_once() -> None:
    client = ScriptedClient(max_blocks=0, refusal=(-32602, "invalid address"))
    with pytest.raises(RpcError, match="invalid address"):
        list(fetch_logs(client, ["0x01"], [], 0, 100))  # type: ignore[arg-type]
    assert len(client.filters) == 1


# -- provider hints ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "code", "blocks", "is_cap", "provider"),
    [
        (
            "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no "
            "limit on the response size, or you can request any block range with a cap of 10K logs in the "
            "response. Based on your parameters, this block range should work: [0x10, 0x4f]",
            -32602,
            64,
            False,
            "alchemy",
        ),
        (
            "query returned more than 10000 results. Try with this block range [0x1A0, 0x1ff].",
            -32005,
            96,
            False,
            "infura",
        ),
        ("eth_getLogs is limited to a 10,000 range", -32614, 10_000, True, "quicknode"),
        ("eth_getLogs and eth_newFilter are limited to a 10000 blocks range", -32000, 10_000, True, "quicknode"),
        ("block range is too wide", -32600, 3_000, True, "ankr"),
        ("Max range: 3500", -32047, 3_500, True, "cloudflare"),
        ("requested too many blocks from 0 to 5000, maximum is set to 2048", -32000, 2_048, True, "avalanche"),
        ("Maximum allowed number of requested blocks is 1000", -32602, 1_000, True, "thirdweb"),
        ("please limit the query to at most 1,000 blocks", -32000, 1_000, True, "coinbase"),
        ("exceed maximum block range: 50000", -32701, 50_000, True, "publicnode"),
        ("query exceeds max block range 1000", -32000, 1_000, True, "hyperliquid"),
        ("block range greater than 5000 max", -32000, 5_000, True, "swell"),
        ("block range exceeds 1000", -32000, 1_000, True, "somnia"),
        ("query must be smaller than size 1024", -32000, 1_024, True, "harmony"),
        ("block range is too wide (maximum 1024)", -32602, 1_024, True, "moonriver"),
        ("you can make eth_getLogs requests with up to a 10 block range", -32600, 10, True, "aurora"),
        ("maximum [from, to] blocks distance: 100", -32000, 100, True, "ankr-tac"),
        ("Block range limit exceeded. Upgrade your plan", -32000, 100, True, "chainstack"),
        ("eth_getLogs range is too large, max is 10k blocks", -32000, 10_000, True, "merkle"),
        ("block range 20000 exceeds the range allowed for your plan (20000 > 5000)", -32000, 5_000, True, "blast-paid"),
        ("limited to 1,024 block", -32000, 1_024, True, "blockpi"),
    ],
)
def test_provider_range_hints_are_parsed(message: str, code: int, blocks: int, is_cap: bool, provider: str) -> None:
    hint = suggested_range(message, code, requested_blocks=5_000)
    assert hint is not None
    assert (hint.blocks, hint.is_cap, hint.provider) == (blocks, is_cap, provider)
    assert is_oversized_request(message)


def test_chainstack_limit_depends_on_the_refused_span() -> None:
    message = "Block range limit exceeded."
    assert suggested_range(message, -32000, requested_blocks=20_000).blocks == 10_000  # type: ignore[union-attr]
    assert suggested_range(message, -32000, requested_blocks=2_000).blocks == 100  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "message",
    [
        "query returned more than 10000 results",
        "Query timeout exceeded. Consider reducing your block range",
        "backend response too large",
        "Block range is too large",
        "logs matched by query exceeds limit of 10000",
        "response size should not greater than 10000000 bytes",
        "query exceeds max results 20000, retry with the range 1-2",
    ],
)
def test_size_refusals_without_a_number_mean_halving(message: str) -> None:
    assert is_oversized_request(message)
    assert suggested_range(message, -32000, requested_blocks=1_000) is None


@pytest.mark.parametrize(
    "message", ["execution reverted", "rate limit exceeded", "header not found", "internal error", "nonce too low"]
)
def test_other_errors_are_not_size_refusals(message: str) -> None:
    assert not is_oversized_request(message)
    assert suggested_range(message, -32000, requested_blocks=1_000) is None


def test_a_stated_cap_carries_over_to_later_fetches() -> None:
    client = ScriptedClient(max_blocks=100, refusal=(-32614, "eth_getLogs is limited to a 100 range"))
    fetcher = LogFetcher(client)  # type: ignore[arg-type]
    list(fetcher.fetch(["0x01"], [], 0, 999))
    client.filters.clear()
    list(fetcher.fetch(["0x01"], [], 1_000, 1_999))
    assert [int(f["toBlock"], 16) - int(f["fromBlock"], 16) + 1 for f in client.filters] == [100] * 10
    assert fetcher.stats.as_metadata()["max_range"] == 100
    with pytest.raises(ValueError):
        LogFetcher(client, initial_range=0)  # type: ignore[arg-type]


class TruncatingClient(ScriptedClient):
    """A provider that answers at most `result_cap` logs per request and says nothing about the rest."""

    def __init__(self, result_cap: int) -> None:
        super().__init__()
        self.result_cap = result_cap

    def call(self, method: str, params: list[Any], *, retry_timeouts: bool = True) -> Any:
        return super().call(method, params, retry_timeouts=retry_timeouts)[: self.result_cap]


def _spans(client: ScriptedClient) -> list[int]:
    return [int(f["toBlock"], 16) - int(f["fromBlock"], 16) + 1 for f in client.filters]


def test_a_response_of_exactly_the_result_cap_is_split_not_accepted() -> None:
    client = TruncatingClient(result_cap=10)
    fetcher = LogFetcher(client, initial_range=40, max_range=40, max_logs_per_chunk=10)  # type: ignore[arg-type]
    chunks = list(fetcher.fetch(["0x01"], [], 0, 99))
    _assert_covers(chunks, 0, 99)
    assert [int(entry["blockNumber"], 16) for entry in _all_logs(chunks)] == list(range(100))
    assert _spans(client)[:4] == [40, 20, 10, 5]  # 40 and 20 truncated, 10 complete but at the cap


def test_a_single_block_at_the_result_cap_raises_naming_the_block() -> None:
    client = ScriptedClient()
    addresses = [f"0x{index:040x}" for index in range(10)]  # ten logs per block
    with pytest.raises(PossiblyTruncatedLogs, match="block 5,") as raised:
        list(fetch_logs(client, addresses, [], 5, 9, max_logs_per_chunk=10))  # type: ignore[arg-type]
    assert (raised.value.from_block, raised.value.to_block, raised.value.count) == (5, 5, 10)


def test_a_single_block_above_the_result_cap_is_accepted_as_complete() -> None:
    client = ScriptedClient()
    addresses = [f"0x{index:040x}" for index in range(11)]  # a node without a cap: all eleven come back
    chunks = list(fetch_logs(client, addresses, [], 5, 9, max_logs_per_chunk=10))  # type: ignore[arg-type]
    _assert_covers(chunks, 5, 9)
    assert len(_all_logs(chunks)) == 55


@pytest.mark.parametrize(
    "message",
    [
        "invalid block range params",
        "block range extends beyond current head block",
        "BlockOutOfRangeError: block height is 16 but requested was 50",
        "fromBlock 0x10 is after toBlock 0x5",
    ],
)
def test_invalid_ranges_are_not_size_refusals(message: str) -> None:
    assert not is_oversized_request(message)
    assert suggested_range(message, -32000, requested_blocks=1_000) is None


def test_an_invalid_range_error_is_sent_once() -> None:
    client = ScriptedClient(max_blocks=0, refusal=(-32000, "invalid block range params"))
    with pytest.raises(RpcError, match="invalid block range params"):
        list(fetch_logs(client, ["0x01"], [], 0, 5_000))  # type: ignore[arg-type]
    assert _spans(client) == [2_000]


def test_a_stated_cap_is_reported_when_it_lowers_the_maximum_and_a_learned_cap_applies_at_once() -> None:
    learned: list[tuple[int, str]] = []
    client = ScriptedClient(max_blocks=100, refusal=(-32614, "eth_getLogs is limited to a 100 range"))
    fetcher = LogFetcher(client, on_cap_learned=lambda blocks, provider: learned.append((blocks, provider)))  # type: ignore[arg-type]
    list(fetcher.fetch(["0x01"], [], 0, 999))
    list(fetcher.fetch(["0x01"], [], 1_000, 1_999))
    assert learned == [(100, "quicknode")]
    # A hint fitted to one query's data is no cap: nothing to report.
    alchemy = ScriptedClient(max_blocks=50, refusal=(-32602, "this block range should work: [0x0, 0x31]"))
    fetcher = LogFetcher(alchemy, on_cap_learned=lambda *cap: learned.append(cap))  # type: ignore[arg-type]
    list(fetcher.fetch(["0x01"], [], 0, 99))
    assert learned == [(100, "quicknode")]

    capped = ScriptedClient(max_blocks=100, refusal=(-32614, "eth_getLogs is limited to a 100 range"))
    fetcher = LogFetcher(capped, learned_cap=100)  # type: ignore[arg-type]
    list(fetcher.fetch(["0x01"], [], 0, 999))
    assert _spans(capped) == [100] * 10
    assert (fetcher.current_range, fetcher.stats.max_range, fetcher.stats.shrinks) == (100, 100, 0)


def test_a_failing_cap_listener_does_not_fail_the_fetch(caplog: pytest.LogCaptureFixture) -> None:
    def broken(blocks: int, provider: str) -> None:
        raise RuntimeError("warehouse down")

    client = ScriptedClient(max_blocks=100, refusal=(-32614, "eth_getLogs is limited to a 100 range"))
    chunks = list(LogFetcher(client, on_cap_learned=broken).fetch(["0x01"], [], 0, 999))  # type: ignore[arg-type]
    _assert_covers(chunks, 0, 999)
    assert "could not record the eth_getLogs cap 100" in caplog.text
