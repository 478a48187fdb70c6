"""The monitors as Dagster jobs against real processes: the devnet chains (anvil), the validity prover
and webhook sink stand-ins, and the warehouse on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import dagster as dg
import httpx
import pytest
from pydantic import SecretStr

from intmax_assets.definitions import build_definitions
from intmax_core.config import Settings, load_settings
from intmax_core.monitors.wallets import observed_wallets
from intmax_core.warehouse import migrate
from intmax_devnet import validity_prover, webhook_sink
from intmax_devnet.devnet import RunningDevnet, web3_for
from tests.test_alerts import TIMEOUT, post_rollup_blocks, prover, sink, sink_messages, sink_process  # noqa: F401

WEI = 10**18


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    [materialization] = result.asset_materializations_for_node(asset)
    return {key: value.value for key, value in materialization.metadata.items()}


def _failure(result: dg.ExecuteInProcessResult) -> str:
    [event] = [e for e in result.all_events if e.is_step_failure]
    error = event.step_failure_data.error
    return (error.message if error else "") + str(event.step_failure_data.user_failure_data)


@pytest.fixture
def monitor_settings(
    devnet_settings: Settings,
    warehouse_url: str,
    sink: webhook_sink.WebhookSinkStandIn,  # noqa: F811
    prover: validity_prover.ValidityProverStandIn,  # noqa: F811
) -> Settings:
    migrate.upgrade(warehouse_url)
    return devnet_settings.model_copy(
        update={
            "database_url": warehouse_url,
            "alert_webhook_url": SecretStr(sink.webhook_url),
            "validity_prover_url": prover.url,
            "use_mock_wallet_observer": True,
        }
    )


# --- block sync ----------------------------------------------------------------------------------


def _set_lag(prover: validity_prover.ValidityProverStandIn, lag: int) -> None:  # noqa: F811
    httpx.post(f"{prover.url}/__lag", json={"lag": lag}, timeout=TIMEOUT).raise_for_status()


def _block_sync(settings: Settings) -> dg.ExecuteInProcessResult:
    return (
        build_definitions(settings).resolve_job_def("block_sync_monitor_job").execute_in_process(raise_on_error=False)
    )


def test_a_lagging_validity_prover_raises_one_warn_alert(
    monitor_settings: Settings,
    devnet: RunningDevnet,
    prover: validity_prover.ValidityProverStandIn,  # noqa: F811
    sink: webhook_sink.WebhookSinkStandIn,  # noqa: F811
) -> None:
    post_rollup_blocks(devnet, 4)
    _set_lag(prover, 2)
    within = _block_sync(monitor_settings)
    assert within.success
    figures = _metadata(within, "block_sync_monitor")
    rollup = figures["rollup_block"]
    assert rollup >= 4
    assert figures == {
        "validity_prover_block": rollup - 2,
        "rollup_block": rollup,
        "block_difference": 2,
        "in_sync": True,
    }
    assert sink_messages(sink) == []

    _set_lag(prover, 3)  # exactly the maximum difference: out of sync (strict)
    behind = _block_sync(monitor_settings)
    assert behind.success
    figures = _metadata(behind, "block_sync_monitor")
    assert (figures["block_difference"], figures["in_sync"], figures["alert"]) == (3, False, "sent")
    expected = (
        f"[WARN] [{monitor_settings.alert_app_target}] block-sync-monitor "
        f"Block difference: 3 validityProverBlock: {rollup - 3} rollupBlock: {rollup}"
    )
    assert sink_messages(sink) == [expected]

    # Within the suppression period: still one message, though the run reports the lag again.
    again = _block_sync(monitor_settings)
    assert _metadata(again, "block_sync_monitor")["alert"] == "suppressed"
    assert sink_messages(sink) == [expected]

    # After the period: a second message.
    short = monitor_settings.model_copy(update={"alert_suppress_seconds": 1.0})
    time.sleep(1.2)
    assert _metadata(_block_sync(short), "block_sync_monitor")["alert"] == "sent"
    assert sink_messages(sink) == [expected, expected]

    # A prover ahead of the Rollup (negative difference) is in sync.
    _set_lag(prover, 0)
    assert _metadata(_block_sync(short), "block_sync_monitor")["in_sync"] is True


@pytest.mark.parametrize(
    ("fault", "why"),
    [({"mode": "missing_field", "count": 1}, "blockNumber"), ({"mode": "http", "count": 1}, "HTTP 503")],
)
def test_an_unreadable_validity_prover_fails_the_run_and_never_alerts_a_difference(
    monitor_settings: Settings,
    devnet: RunningDevnet,
    prover: validity_prover.ValidityProverStandIn,  # noqa: F811
    sink: webhook_sink.WebhookSinkStandIn,  # noqa: F811
    fault: dict[str, Any],
    why: str,
) -> None:
    # Blocks on the Rollup and no lag: a missing answer read as 0 would be a difference >= 4.
    post_rollup_blocks(devnet, 4)
    httpx.post(f"{prover.url}/__faults", json=fault, timeout=TIMEOUT).raise_for_status()
    result = _block_sync(monitor_settings)
    assert not result.success
    assert result.asset_materializations_for_node("block_sync_monitor") == []
    failure = _failure(result)
    assert "block sync unknown" in failure and why in failure
    assert sink_messages(sink) == []


def test_without_a_validity_prover_url_there_is_no_block_sync_monitor(monitor_settings: Settings) -> None:
    defs = build_definitions(monitor_settings.model_copy(update={"validity_prover_url": None}))
    names = {schedule.name for schedule in defs.get_repository_def().schedule_defs}
    assert "block_sync_monitor_schedule" not in names and "wallet_observer_schedule" in names
    with_url = build_definitions(monitor_settings.model_copy(update={"block_sync_cron": "*/7 * * * *"}))
    [schedule] = [s for s in with_url.get_repository_def().schedule_defs if s.name == "block_sync_monitor_schedule"]
    assert schedule.cron_schedule == "*/7 * * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


# --- wallets -------------------------------------------------------------------------------------


def _set_balance(devnet: RunningDevnet, chain: str, address: str, wei: int) -> None:
    rpc_url = devnet.manifest.l1.rpc_url if chain == "L1" else devnet.manifest.l2.rpc_url
    response = web3_for(rpc_url).provider.make_request("anvil_setBalance", [address, hex(wei)])
    assert "error" not in response, response


def _wallet_observer(settings: Settings) -> dg.ExecuteInProcessResult:
    return build_definitions(settings).resolve_job_def("wallet_observer_job").execute_in_process(raise_on_error=False)


def test_a_low_wallet_raises_one_info_alert_listing_every_wallet(
    monitor_settings: Settings,
    devnet: RunningDevnet,
    sink: webhook_sink.WebhookSinkStandIn,  # noqa: F811
) -> None:
    wallets = observed_wallets(monitor_settings)
    assert [w.key for w in wallets] == [
        "builder_l2",
        "depositAnalyzer_l1",
        "withdrawal_l2",
        "blockBuilderReward_l2",
        "tokenManager_l1",
        "mockMessenger_l1",
        "mockMessenger_l2",
    ]
    balances = {w.key: 2 * WEI for w in wallets}
    balances["builder_l2"] = WEI // 2 + 1  # just above the 0.5 ETH threshold: sufficient
    balances["blockBuilderReward_l2"] = WEI // 5  # 0.2 ETH: above the 0.1 "min" threshold
    balances["tokenManager_l1"] = WEI // 10  # exactly the "min" threshold: insufficient (strict)
    for wallet in wallets:
        _set_balance(devnet, wallet.chain, wallet.address, balances[wallet.key])

    result = _wallet_observer(monitor_settings)
    assert result.success
    figures = _metadata(result, "wallet_balances")
    assert figures["insufficient_wallets"] == 1 and figures["alert"] == "sent"
    assert figures["balance_eth/tokenManager_l1"] == pytest.approx(0.1)
    assert figures["balance_eth/depositAnalyzer_l1"] == pytest.approx(2.0)

    [message] = sink_messages(sink)
    header = f"[INFO] [{monitor_settings.alert_app_target}] wallet-observer 1 of 7 wallets have insufficient ETH\n\n"
    assert message.startswith(header)
    blocks = message.removeprefix(header).split("\n\n")
    assert len(blocks) == 7
    for wallet, block in zip(wallets, blocks, strict=True):
        balance = Decimal(balances[wallet.key]) / WEI
        assert block.splitlines() == [
            f"Name: {wallet.name}",
            "NetworkEnvironment: devnet",
            f"Address: {wallet.address}",
            f"Chain: {wallet.chain}",
            f"Balance: {format(balance.normalize(), 'f')}",
            f"Sufficient: {'No' if wallet.key == 'tokenManager_l1' else 'Yes'}",
        ]
    assert "Balance: 0.500000000000000001" in message

    # The same wallet still low (its balance moved a little): suppressed, not a second message.
    token_manager = next(w for w in wallets if w.key == "tokenManager_l1")
    _set_balance(devnet, "L1", token_manager.address, WEI // 20)
    again = _wallet_observer(monitor_settings)
    assert _metadata(again, "wallet_balances")["alert"] == "suppressed"
    assert len(sink_messages(sink)) == 1

    # All sufficient again: no alert at all.
    _set_balance(devnet, "L1", token_manager.address, WEI)
    healthy = _wallet_observer(monitor_settings)
    assert _metadata(healthy, "wallet_balances")["insufficient_wallets"] == 0
    assert "alert" not in _metadata(healthy, "wallet_balances")
    assert len(sink_messages(sink)) == 1


def test_an_unreadable_balance_fails_the_run(
    monitor_settings: Settings,
    sink: webhook_sink.WebhookSinkStandIn,  # noqa: F811
) -> None:
    dead = load_settings(l1_rpc_urls="http://127.0.0.1:1", network="testnet").l1_rpc_urls
    result = _wallet_observer(monitor_settings.model_copy(update={"l1_rpc_urls": dead}))
    assert not result.success
    assert result.asset_materializations_for_node("wallet_balances") == []
    assert "wallet balances unknown" in _failure(result) and "127.0.0.1:1" not in _failure(result)
    assert sink_messages(sink) == []
