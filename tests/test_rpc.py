"""RpcClient against a real anvil, directly and through the fault-injecting proxy."""

from __future__ import annotations

import logging
import random
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from intmax_core.chain.blocks import BlockHeader, BlockNotFound, block_hash_at, get_block_headers
from intmax_core.chain.endpoints import EndpointPool
from intmax_core.chain.retry import BackoffPolicy
from intmax_core.chain.rpc import RpcClient, RpcError, RpcTimeout, RpcUnavailable
from intmax_core.chain.rpc_errors import is_transient
from intmax_devnet.anvil import AnvilChain, free_port, start_anvil
from tests.rpc_fault_proxy import (
    DROP,
    HEADER_NOT_FOUND,
    HTTP_429,
    HTTP_503,
    INTERNAL_TIMEOUT,
    RATE_LIMITED,
    SLOW,
    RpcFaultProxy,
    rpc_error,
)

CHAIN_ID = 31_337_001
CHAIN_BLOCKS = 150  # enough for two header batches of 100
SECRET = "secret-key-123"
# Fast retries for tests; the client's real defaults wait seconds.
FAST = {"backoff_base": 0.01, "backoff_max": 0.05}
# The proxy stalls SLOW requests for 3 s; clients under test give up long before.
SHORT_TIMEOUT = 0.5


@pytest.fixture(scope="module")
def anvil() -> Iterator[AnvilChain]:
    chain = start_anvil(CHAIN_ID)
    try:
        httpx.post(
            chain.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "anvil_mine", "params": [hex(CHAIN_BLOCKS)]}
        )
        yield chain
    finally:
        chain.stop()


@pytest.fixture
def proxy(anvil: AnvilChain) -> Iterator[RpcFaultProxy]:
    with RpcFaultProxy(anvil.rpc_url) as running:
        yield running


def dead_url() -> str:
    """A loopback URL where nothing listens: connection refused."""
    return f"http://127.0.0.1:{free_port()}"


def direct(anvil: AnvilChain, method: str, params: list) -> dict:
    return httpx.post(anvil.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).json()


# -- plain calls ------------------------------------------------------------------------------------


def test_call_returns_the_raw_result(anvil: AnvilChain) -> None:
    with RpcClient([anvil.rpc_url]) as client:
        assert client.chain_id() == CHAIN_ID
        assert client.block_number() >= CHAIN_BLOCKS
        block = client.call("eth_getBlockByNumber", ["0x1", False])
    assert block == direct(anvil, "eth_getBlockByNumber", ["0x1", False])["result"]
    assert block["number"] == "0x1"  # hex strings, no web3 formatting


# -- failover ---------------------------------------------------------------------------------------


def test_fails_over_when_the_first_url_refuses_connections(anvil: AnvilChain) -> None:
    with RpcClient([dead_url(), anvil.rpc_url], **FAST) as client:
        assert client.chain_id() == CHAIN_ID
        assert client.stats.transient_failures == 1
        assert client.stats.failovers == 1
        # The dead URL is cooling down: the next calls go straight to the second one.
        for _ in range(3):
            client.block_number()
        assert client.stats.transient_failures == 1


def test_a_failed_url_is_preferred_again_after_its_cooldown(anvil: AnvilChain) -> None:
    cooldown = 1.0
    with RpcFaultProxy(anvil.rpc_url) as first, RpcFaultProxy(anvil.rpc_url) as second:
        first.queue_faults(HTTP_503)
        with RpcClient([first.url, second.url], cooldown_seconds=cooldown, **FAST) as client:
            client.chain_id()
            assert (first.requests, second.requests) == (1, 1)
            client.chain_id()  # first is cooling down
            assert (first.requests, second.requests) == (1, 2)
            time.sleep(cooldown * 1.5)
            client.chain_id()  # configured order again
            assert (first.requests, second.requests) == (2, 2)


def test_a_timeout_the_caller_shrinks_for_leaves_the_url_in_use(anvil: AnvilChain) -> None:
    # retry_timeouts=False: the caller (the log fetcher) reads the timeout as "request too big" and
    # sends a smaller one, which belongs on the same, healthy URL.
    with RpcFaultProxy(anvil.rpc_url) as first, RpcFaultProxy(anvil.rpc_url) as second:
        first.queue_faults(SLOW)
        with RpcClient([first.url, second.url], timeout=SHORT_TIMEOUT, **FAST) as client:
            with pytest.raises(RpcTimeout):
                client.call("eth_chainId", retry_timeouts=False)
            assert client.chain_id() == CHAIN_ID
        assert (first.requests, second.requests) == (2, 0)


def test_a_retried_timeout_still_cools_the_url_down(anvil: AnvilChain) -> None:
    with RpcFaultProxy(anvil.rpc_url) as first, RpcFaultProxy(anvil.rpc_url) as second:
        first.queue_faults(SLOW)
        with RpcClient([first.url, second.url], timeout=SHORT_TIMEOUT, **FAST) as client:
            assert client.chain_id() == CHAIN_ID  # retried on the second URL
            assert client.chain_id() == CHAIN_ID  # the first is cooling down
        assert (first.requests, second.requests) == (1, 2)


def test_a_connect_timeout_is_an_endpoint_failure_even_when_timeouts_are_not_retried() -> None:
    # A connection that cannot be opened says nothing about the request's size: fail over, cool down.
    unreachable, healthy = "http://10.0.0.1:8545", "http://10.0.0.2:8545"
    hits: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hits.append(str(request.url))
        if str(request.url) == unreachable:
            raise httpx.ConnectTimeout("connect timed out", request=request)
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": 1, "result": hex(CHAIN_ID)})

    with RpcClient([unreachable, healthy], transport=httpx.MockTransport(handler), **FAST) as client:
        assert client.call("eth_chainId", retry_timeouts=False) == hex(CHAIN_ID)
        assert client.call("eth_chainId", retry_timeouts=False) == hex(CHAIN_ID)
        assert client.stats.failovers == 1
    assert hits == [unreachable, healthy, healthy]


def test_all_urls_failing_raises_rpc_unavailable_naming_endpoints_by_index(anvil: AnvilChain) -> None:
    with RpcClient([dead_url(), dead_url()], max_attempts=4, **FAST) as client, pytest.raises(RpcUnavailable) as raised:
        client.chain_id()
    message = str(raised.value)
    assert "url #1: ConnectError" in message
    assert "url #2: ConnectError" in message
    assert "gave up after 4 attempts" in message


# -- retries ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [HTTP_429, HTTP_503, DROP, RATE_LIMITED, HEADER_NOT_FOUND, INTERNAL_TIMEOUT],
    ids=["http-429", "http-503", "dropped-connection", "rate-limited", "header-not-found", "internal-timeout"],
)
def test_transient_faults_are_retried_until_the_call_succeeds(proxy: RpcFaultProxy, fault) -> None:
    proxy.queue_faults(fault, fault)
    with RpcClient([proxy.url], **FAST) as client:
        assert client.chain_id() == CHAIN_ID
        assert client.stats.retries == 2
    assert proxy.requests == 3
    assert proxy.forwarded == 1


def test_a_timeout_is_retried(proxy: RpcFaultProxy) -> None:
    proxy.queue_faults(SLOW)
    with RpcClient([proxy.url], timeout=SHORT_TIMEOUT, **FAST) as client:
        assert client.chain_id() == CHAIN_ID
        assert client.stats.retries == 1


def test_without_timeout_retries_a_timeout_raises_rpc_timeout_at_once(proxy: RpcFaultProxy) -> None:
    proxy.queue_faults(SLOW)
    with RpcClient([proxy.url], timeout=SHORT_TIMEOUT, **FAST) as client, pytest.raises(RpcTimeout):
        client.call("eth_chainId", retry_timeouts=False)
    assert proxy.requests == 1


def test_retries_stop_after_max_attempts(proxy: RpcFaultProxy) -> None:
    proxy.queue_faults(*[HTTP_503] * 10)
    with RpcClient([proxy.url], max_attempts=3, **FAST) as client, pytest.raises(RpcUnavailable) as raised:
        client.chain_id()
    assert proxy.requests == 3
    assert "url #1: HTTP 503" in str(raised.value)


def test_a_reverting_call_raises_rpc_error_without_retry(proxy: RpcFaultProxy) -> None:
    # A contract whose code only reverts (with empty data), installed directly on anvil.
    target = "0x00000000000000000000000000000000000beef1"
    direct_client = RpcClient([proxy.upstream_url])
    direct_client.call("anvil_setCode", [target, "0x60006000fd"])  # PUSH1 0 PUSH1 0 REVERT
    direct_client.close()
    with RpcClient([proxy.url], **FAST) as client, pytest.raises(RpcError) as raised:
        client.call("eth_call", [{"to": target, "data": "0x"}, "latest"])
    assert raised.value.code == 3
    assert "execution reverted" in raised.value.message
    assert raised.value.data == "0x"
    assert proxy.requests == 1


@pytest.mark.parametrize(
    ("method", "params"),
    [("eth_getBalance", ["0x12", "latest"]), ("no_such_method", [])],
    ids=["invalid-params", "unknown-method"],
)
def test_non_transient_node_errors_raise_at_once(proxy: RpcFaultProxy, method: str, params: list) -> None:
    with RpcClient([proxy.url], **FAST) as client, pytest.raises(RpcError) as raised:
        client.call(method, params)
    assert raised.value.code in {-32601, -32602}
    assert raised.value.method == method
    assert proxy.requests == 1


def test_an_oversized_log_query_under_the_rate_limit_code_is_not_retried(proxy: RpcFaultProxy) -> None:
    # Infura reports both rate limits and result caps as -32005; only the first is worth retrying.
    proxy.queue_faults(rpc_error(-32005, "query returned more than 10000 results"))
    with RpcClient([proxy.url], **FAST) as client, pytest.raises(RpcError) as raised:
        client.call("eth_getLogs", [{"fromBlock": "0x0", "toBlock": "0x10"}])
    assert raised.value.code == -32005
    assert proxy.requests == 1


# -- secrets ----------------------------------------------------------------------------------------


def _everything_said_about(error: BaseException) -> str:
    return "\n".join([str(error), repr(error), *traceback.format_exception(error)])


def test_urls_never_appear_in_exceptions_or_logs(proxy: RpcFaultProxy, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    urls = [f"{dead_url()}/{SECRET}", f"{proxy.url}/{SECRET}"]
    said: list[str] = []
    with RpcClient(urls, timeout=SHORT_TIMEOUT, max_attempts=3, **FAST) as client:
        said.append(repr(client))
        proxy.queue_faults(*[HTTP_503] * 3)
        with pytest.raises(RpcUnavailable) as unavailable:
            client.chain_id()
        said.append(_everything_said_about(unavailable.value))
        proxy.clear_faults()
        proxy.queue_faults(SLOW)
        with pytest.raises(RpcTimeout) as timed_out:
            client.call("eth_chainId", retry_timeouts=False)
        said.append(_everything_said_about(timed_out.value))
        with pytest.raises(RpcError) as rejected:
            client.call("eth_getBalance", ["0x12", "latest"])
        said.append(_everything_said_about(rejected.value))
    with pytest.raises(ValueError) as misconfigured:
        RpcClient([f"wss://provider.example/{SECRET}"])
    said.append(_everything_said_about(misconfigured.value))
    assert "url #" in said[1]
    for text in said:
        assert SECRET not in text
        assert "127.0.0.1" not in text
    # httpx logs each request URL at INFO: ours appear by label only (httpcore's DEBUG lines name the host).
    assert "HTTP Request: POST chain url #2" in caplog.text
    assert SECRET not in caplog.text


# -- concurrency ------------------------------------------------------------------------------------


def test_concurrent_requests_are_capped_per_client(proxy: RpcFaultProxy) -> None:
    limit = 3
    proxy.hold_seconds = 0.4  # long enough that every free slot is taken while the first requests wait
    with RpcClient([proxy.url], max_in_flight=limit) as client, ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: client.chain_id(), range(9)))
    assert results == [CHAIN_ID] * 9
    assert proxy.max_in_flight == limit


# -- batches ----------------------------------------------------------------------------------------


def _block_calls(count: int) -> list[tuple[str, list]]:
    return [("eth_getBlockByNumber", [hex(number), False]) for number in range(count)]


def test_batch_returns_results_in_order_in_requests_of_at_most_the_batch_size(
    anvil: AnvilChain, proxy: RpcFaultProxy
) -> None:
    with RpcClient([proxy.url], max_batch_size=100) as client:
        blocks = client.batch(_block_calls(CHAIN_BLOCKS))
    assert [block["number"] for block in blocks] == [hex(number) for number in range(CHAIN_BLOCKS)]
    assert blocks[7] == direct(anvil, "eth_getBlockByNumber", ["0x7", False])["result"]
    assert proxy.requests == 2


def test_batch_retries_transient_failures(proxy: RpcFaultProxy) -> None:
    proxy.queue_faults(HTTP_429, RATE_LIMITED, DROP)
    with RpcClient([proxy.url], **FAST) as client:
        blocks = client.batch(_block_calls(5))
    assert [block["number"] for block in blocks] == [hex(number) for number in range(5)]
    assert proxy.requests == 4


def test_batch_falls_back_to_single_calls_when_the_node_rejects_batches(proxy: RpcFaultProxy) -> None:
    proxy.reject_batches = True
    with RpcClient([proxy.url], **FAST) as client:
        first = client.batch(_block_calls(3))
        second = client.batch(_block_calls(2))
        assert client.stats.batch_fallbacks == 1
    assert [block["number"] for block in first + second] == ["0x0", "0x1", "0x2", "0x0", "0x1"]
    assert proxy.requests == 1 + 3 + 2  # one rejected batch, then single calls only


def test_a_permanent_error_inside_a_batch_raises(proxy: RpcFaultProxy) -> None:
    with RpcClient([proxy.url], **FAST) as client, pytest.raises(RpcError) as raised:
        client.batch([("eth_chainId", []), ("eth_getBalance", ["0x12", "latest"])])
    assert raised.value.method == "eth_getBalance"
    assert proxy.requests == 1


# -- block headers ----------------------------------------------------------------------------------


def test_block_headers_match_the_chain(anvil: AnvilChain) -> None:
    with RpcClient([anvil.rpc_url]) as client:
        headers = get_block_headers(client, [5, 3, 4, 120, 5])
        assert sorted(headers) == [3, 4, 5, 120]
        block = direct(anvil, "eth_getBlockByNumber", ["0x78", False])["result"]
        assert headers[120] == BlockHeader(block["hash"], int(block["timestamp"], 16), block["parentHash"])
        assert headers[4].parent_hash == headers[3].hash
        assert block_hash_at(client, 120) == block["hash"]
        with pytest.raises(BlockNotFound):
            block_hash_at(client, 10**9)
        with pytest.raises(BlockNotFound):
            get_block_headers(client, [1, 10**9])
        assert get_block_headers(client, []) == {}


# -- policies (no chain) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "message", "transient"),
    [
        (-32005, "daily request count exceeded, request rate limited", True),
        (-32005, "query returned more than 10000 results", False),
        (-32603, "request timed out", True),
        (-32000, "header not found", True),
        (-32000, "execution reverted: deadline timed out", False),
        (3, "execution reverted", False),
        (-32602, "invalid params", False),
        (-32601, "the method does_not_exist does not exist", False),
        (-32000, "nonce too low", False),
        (-32002, "resource unavailable", True),
        (None, "Too Many Requests", True),
    ],
)
def test_json_rpc_errors_are_classified_by_code_then_message(code: int | None, message: str, transient: bool) -> None:
    assert is_transient(code, message) is transient


def test_backoff_is_capped_exponential_with_full_jitter() -> None:
    policy = BackoffPolicy(max_attempts=10, base_seconds=0.5, max_seconds=4.0)
    assert [policy.ceiling(retry) for retry in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    rng = random.Random(1)
    delays = [policy.delay(3, rng) for _ in range(1000)]
    assert all(0 <= delay <= 4.0 for delay in delays)
    assert min(delays) < 0.5 and max(delays) > 3.5  # spread over the whole interval, not clustered at the cap
    assert policy.ceiling(10_000) == 4.0
    with pytest.raises(ValueError):
        BackoffPolicy(max_attempts=0)


def test_endpoint_pool_keeps_order_and_skips_cooling_endpoints() -> None:
    now = [0.0]
    pool = EndpointPool(3, cooldown_seconds=10, clock=lambda: now[0])
    assert pool.pick() == 0
    pool.mark_failed(0)
    assert pool.pick() == 1
    pool.mark_failed(1)
    pool.mark_failed(2)
    now[0] = 1.0
    assert pool.pick() == 0  # all cooling: the one that recovers first
    now[0] = 10.5
    assert pool.pick() == 0  # recovered: order preserved
    assert pool.label(1) == "url #2"


def test_the_client_is_safe_to_share_between_threads(anvil: AnvilChain) -> None:
    errors: list[BaseException] = []
    with RpcClient([anvil.rpc_url]) as client:

        def work() -> None:
            try:
                for _ in range(20):
                    assert client.chain_id() == CHAIN_ID
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=work) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert client.stats.requests == 120
    assert errors == []
