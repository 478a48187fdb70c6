"""The token map register against the real devnet: Liquidity.getTokenInfo + ERC20 metadata via Multicall3."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import DagsterRun
from sqlalchemy import select, update
from web3 import Web3

from intmax_assets.defs.tokens import build_token_definitions
from intmax_assets.resources import ChainResource, WarehouseResource
from intmax_core.chain.rpc import RpcClient
from intmax_core.config import Settings
from intmax_core.tokens.metadata import decode_decimals, decode_symbol, decode_token_info
from intmax_core.tokens.multicall import CallResult
from intmax_core.tokens.token_map import register_token_maps
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.tokens_tables import ZERO_ADDRESS, TokenType, token_maps
from intmax_devnet import accounts
from intmax_devnet.deploy_l1 import BYTES32_SYMBOL_TOKEN, REVERTING_SYMBOL_TOKEN
from intmax_devnet.deployer import transact
from intmax_devnet.devnet import RunningDevnet, web3_for
from tests.devnet_activity import contract
from tests.indexing_helpers import index_all
from tests.rpc_fault_proxy import HTTP_503, RpcFaultProxy

# Token indexes on the devnet: 0 ETH, 1 ITX, 2 WBTC, 3 USDC; the odd tokens get the next ones in
# the order of their first deposit (this module deposits the bytes32 one first).
BYTES32_INDEX, REVERTING_INDEX = 4, 5


@pytest.fixture
def settings(devnet_settings: Settings, warehouse_url: str) -> Settings:
    migrate.upgrade(warehouse_url)
    return devnet_settings.model_copy(update={"database_url": warehouse_url})


def _deposit_erc20(devnet: RunningDevnet, key: str, amount: int = 10**18) -> None:
    """The builder account mints `amount` of token `key` (devnet faucet), approves and deposits it."""
    l1 = web3_for(devnet.manifest.l1.rpc_url)
    user = Web3.to_checksum_address(accounts.role("builder").address)
    token = contract(l1, devnet.manifest, key)
    liquidity = contract(l1, devnet.manifest, "liquidity")
    transact(l1, token.functions.mint(user, amount), user)
    transact(l1, token.functions.approve(liquidity.address, amount), user)
    transact(l1, liquidity.functions.depositERC20(token.address, os.urandom(32), amount, b"", b""), user)


def _deposit_odd_tokens(devnet: RunningDevnet, settings: Settings) -> None:
    _deposit_erc20(devnet, "wbtc", 10**8)
    _deposit_erc20(devnet, BYTES32_SYMBOL_TOKEN)
    _deposit_erc20(devnet, REVERTING_SYMBOL_TOKEN)
    index_all(settings, settings.warehouse_url)


def _l1(settings: Settings, rpc_urls: list[str] | None = None) -> ChainResource:
    return ChainResource(name="L1", rpc_urls=rpc_urls or settings.l1_rpc_urls, chain_id=settings.l1_chain_id)


def _materialize(settings: Settings, *, rpc_urls: list[str] | None = None) -> dg.ExecuteInProcessResult:
    (asset,) = [a for a in build_token_definitions(settings).assets if a.key == dg.AssetKey("token_maps")]
    resources = {"warehouse": WarehouseResource(url=settings.warehouse_url), "l1": _l1(settings, rpc_urls)}
    return dg.materialize([asset], resources=resources, raise_on_error=False)


def _metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    (event,) = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _rows(url: str) -> list[dict[str, Any]]:
    engine = make_engine(url)
    with engine.connect() as connection:
        rows = [dict(r) for r in connection.execute(select(token_maps).order_by(token_maps.c.token_index)).mappings()]
    engine.dispose()
    return rows


def test_odd_tokens_are_recorded_and_retried_while_the_others_resolve(
    devnet: RunningDevnet, settings: Settings
) -> None:
    _deposit_odd_tokens(devnet, settings)
    contracts = devnet.manifest.contracts

    first = _materialize(settings)
    assert first.success
    assert _metadata(first) | {"failures": None} == {
        "resolved": 5, "failed": 1, "total": 6, "resolved_this_run": 5, "failed_this_run": 1, "failures": None,
    }  # fmt: skip
    rows = _rows(settings.warehouse_url)
    # Every index up to the highest deposited one, in numeric order; 1 and 3 were never deposited here.
    assert [r["token_index"] for r in rows] == [0, 1, 2, 3, BYTES32_INDEX, REVERTING_INDEX]
    summary = [(r["token_type"], r["contract_address"], r["token_id"], r["symbol"], r["decimals"]) for r in rows]
    assert summary[:5] == [
        (TokenType.NATIVE, ZERO_ADDRESS, 0, "ETH", 18),
        (TokenType.ERC20, contracts["itx"].address, 0, "ITX", 18),
        (TokenType.ERC20, contracts["wbtc"].address, 0, "WBTC", 8),
        (TokenType.ERC20, contracts["usdc"].address, 0, "USDC", 6),
        # bytes32 symbol: the NUL padding is stripped.
        (TokenType.ERC20, contracts[BYTES32_SYMBOL_TOKEN].address, 0, "DMKR", 18),
    ]
    assert all(r["resolved_at"] is not None and r["resolve_error"] is None for r in rows[:5])
    failed = rows[REVERTING_INDEX]
    # The failing token keeps what is known (type, contract) and why symbol() failed.
    assert (failed["token_type"], failed["contract_address"]) == (
        TokenType.ERC20,
        contracts[REVERTING_SYMBOL_TOKEN].address,
    )
    assert failed["symbol"] is None and failed["resolved_at"] is None and failed["resolve_attempts"] == 1
    assert "symbol() reverted" in failed["resolve_error"] and "no symbol" in failed["resolve_error"]

    # The next run retries only the failed token; resolved rows are not touched again.
    second = _materialize(settings)
    assert second.success and _metadata(second)["resolved_this_run"] == 0
    again = _rows(settings.warehouse_url)
    assert again[:5] == rows[:5]
    assert again[REVERTING_INDEX]["resolve_attempts"] == 2


def test_concurrent_runs_upsert_without_duplicates(devnet: RunningDevnet, settings: Settings) -> None:
    """Two register runs at once: no integrity error, one row per index, both failed attempts counted."""
    _deposit_odd_tokens(devnet, settings)
    engine = make_engine(settings.warehouse_url)
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            with RpcClient(settings.l1_rpc_urls, name="L1") as client:
                barrier.wait()
                register_token_maps(engine, client, settings.liquidity_address or "", settings.l1_multicall3_address)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()
    assert errors == []
    rows = _rows(settings.warehouse_url)
    assert [r["token_index"] for r in rows] == [0, 1, 2, 3, BYTES32_INDEX, REVERTING_INDEX]
    assert rows[REVERTING_INDEX]["resolve_attempts"] == 2
    assert rows[BYTES32_INDEX]["symbol"] == "DMKR"


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_an_rpc_failure_fails_the_run_and_marks_no_token_failed(devnet: RunningDevnet, settings: Settings) -> None:
    _deposit_odd_tokens(devnet, settings)
    with RpcFaultProxy(settings.l1_rpc_urls[0]) as proxy:
        proxy.override("eth_call", fault=HTTP_503)
        result = _materialize(settings, rpc_urls=[proxy.url])
        assert not result.success
        # Unknown is not "failed": no row at all, not even ETH (everything is written in one go).
        assert _rows(settings.warehouse_url) == []
        proxy.clear_overrides()
        assert _materialize(settings, rpc_urls=[proxy.url]).success
    assert len(_rows(settings.warehouse_url)) == 6


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_a_multicall_address_without_code_fails_the_run(devnet: RunningDevnet, settings: Settings) -> None:
    _deposit_odd_tokens(devnet, settings)
    wrong = settings.model_copy(update={"l1_multicall3_address": accounts.role("builder").address})
    result = _materialize(wrong)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "INTMAX_L1_MULTICALL3_ADDRESS" in failure.event_specific_data.error.message
    assert _rows(settings.warehouse_url) == []


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_the_sensor_requests_new_indexes_and_backs_off_failed_ones(devnet: RunningDevnet, settings: Settings) -> None:
    (sensor,) = [s for s in build_token_definitions(settings).sensors if s.name == "token_maps_sensor"]
    instance = dg.DagsterInstance.ephemeral()
    resources = {"warehouse": WarehouseResource(url=settings.warehouse_url)}

    def tick(cursor: str | None) -> dg.SensorResult:
        context = dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor)
        result = sensor(context)
        assert isinstance(result, dg.SensorResult)
        return result

    # An empty warehouse: ETH must be seeded.
    empty = tick(None)
    assert [r.run_key for r in empty.run_requests or []] == ["token_maps:0#0"]
    # Never a second run while one is in flight.
    running = DagsterRun(
        job_name="__ephemeral_asset_job__", run_id="in-flight", status=dg.DagsterRunStatus.STARTED,
        asset_selection=frozenset({dg.AssetKey("token_maps")}),
    )  # fmt: skip
    instance.add_run(running)
    busy = tick(None)
    assert not busy.run_requests and "already queued or running" in str(busy.skip_reason)
    instance.handle_run_event(
        "in-flight",
        dg.DagsterEvent(dg.DagsterEventType.RUN_SUCCESS.value, job_name="__ephemeral_asset_job__"),
    )

    _deposit_odd_tokens(devnet, settings)
    new = tick(empty.cursor)
    assert [r.run_key for r in new.run_requests or []] == ["token_maps:0#0,1#0,2#0,3#0,4#0,5#0"]
    assert json.loads(new.cursor or "")["highest"] == REVERTING_INDEX

    assert _materialize(settings).success
    waiting = tick(new.cursor)
    assert not waiting.run_requests and "wait for their retry" in str(waiting.skip_reason)

    # Once the first backoff (1 minute) has passed, the failed token is due with its attempt count.
    engine = make_engine(settings.warehouse_url)
    with engine.begin() as connection:
        earlier = datetime.now(UTC) - timedelta(minutes=2)
        connection.execute(
            update(token_maps).where(token_maps.c.token_index == REVERTING_INDEX).values(updated_at=earlier)
        )
    engine.dispose()
    due = tick(waiting.cursor)
    assert [r.run_key for r in due.run_requests or []] == [f"token_maps:{REVERTING_INDEX}#1"]


def _ok(data: bytes) -> CallResult:
    return CallResult(True, data)


def test_decoders_separate_good_odd_and_garbage_answers() -> None:
    string_symbol = bytes.fromhex("20".rjust(64, "0")) + (3).to_bytes(32, "big") + b"USD".ljust(32, b"\0")
    assert decode_symbol(_ok(string_symbol)) == ("USD", None)
    assert decode_symbol(_ok(b"MKR".ljust(32, b"\0"))) == ("MKR", None)
    assert decode_symbol(_ok(b"")) == (
        None,
        "symbol() returned no data (no contract at the address, or no symbol function)",
    )
    assert decode_symbol(_ok(b"\xff" * 33))[0] is None  # neither a string nor a bytes32
    assert decode_symbol(_ok(b"\xff\xfe".ljust(32, b"\0")))[1] == "symbol() returned bytes that are not UTF-8 text"
    assert decode_symbol(_ok(b"\0" * 32))[0] is None  # empty after the padding
    error_string = bytes.fromhex("08c379a0") + string_symbol
    assert decode_symbol(CallResult(False, error_string)) == (None, "symbol() reverted: 'USD'")
    assert decode_decimals(_ok((6).to_bytes(32, "big"))) == (6, None)
    assert decode_decimals(_ok((256).to_bytes(32, "big")))[0] is None
    assert decode_decimals(_ok(b""))[0] is None
    nft = (2).to_bytes(32, "big") + bytes(12) + b"\x11" * 20 + (42).to_bytes(32, "big")
    info, error = decode_token_info(_ok(nft))
    assert error is None and info is not None
    assert (info.token_type, info.contract_address, info.token_id) == (TokenType.ERC721, "0x" + "11" * 20, 42)
    assert decode_token_info(_ok((9).to_bytes(32, "big") + bytes(64)))[0] is None  # no such token type
