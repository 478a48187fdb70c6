"""The devnet stand-ins for the operations' external services, over real HTTP against the processes
the devnet started: builder nodes (/fee-info), validity prover (/block-number), Predicate (/v1/task)
and the alert webhook sink. No mocks: every check is a real request to a real process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from web3 import Web3

from intmax_core.config import Settings
from intmax_core.devnet_manifest import (
    DEVNET_ALERT_WEBHOOK_PATH,
    DEVNET_PREDICATE_API_KEY,
    DevnetManifest,
    write_manifest,
)
from intmax_devnet import accounts
from intmax_devnet.builder_nodes import (
    FEE_ABOVE_CAP,
    BuilderNodesStandIn,
    builder_base_url,
    set_builder_behaviour,
)
from intmax_devnet.deployer import contract_at
from intmax_devnet.devnet import RunningDevnet, web3_for
from intmax_devnet.predicate import PredicateStandIn
from intmax_devnet.simulator import SimulationPlan, Simulator
from intmax_devnet.validity_prover import ValidityProverStandIn
from intmax_devnet.webhook_sink import WebhookSinkStandIn
from tests.conftest import PROJECT_ROOT

TIMEOUT = 10.0
TASK = {"from": "0x" + "11" * 20, "to": "0x" + "22" * 20, "data": "0xdeadbeef", "msg_value": "1000", "chain_id": 31337}


def _reset(url: str) -> None:
    assert httpx.post(f"{url}/__reset", timeout=TIMEOUT).status_code == 200


@pytest.fixture
def sink(devnet: RunningDevnet) -> Iterator[WebhookSinkStandIn]:
    assert devnet.webhook_sink is not None
    _reset(devnet.webhook_sink.url)
    yield devnet.webhook_sink
    _reset(devnet.webhook_sink.url)  # the process lives for the session: leave no fault or message


@pytest.fixture
def prover(devnet: RunningDevnet) -> Iterator[ValidityProverStandIn]:
    assert devnet.validity_prover is not None
    _reset(devnet.validity_prover.url)
    yield devnet.validity_prover
    _reset(devnet.validity_prover.url)


@pytest.fixture
def nodes(devnet: RunningDevnet) -> Iterator[BuilderNodesStandIn]:
    assert devnet.builder_nodes is not None
    _reset(devnet.builder_nodes.url)
    yield devnet.builder_nodes
    _reset(devnet.builder_nodes.url)


@pytest.fixture
def predicate(devnet: RunningDevnet) -> Iterator[PredicateStandIn]:
    assert devnet.predicate is not None
    _reset(devnet.predicate.url)
    yield devnet.predicate
    _reset(devnet.predicate.url)


# --- the manifest and the settings -----------------------------------------------------------


def test_manifest_lists_the_four_standins_and_settings_use_them(
    devnet: RunningDevnet, devnet_settings: Settings
) -> None:
    manifest = DevnetManifest.from_json(devnet.manifest.to_json())
    for key in ("builder_nodes", "validity_prover", "predicate", "webhook_sink"):
        entry = getattr(manifest, key)
        assert entry is not None and entry.name == key, key
        assert httpx.get(f"{entry.url}/__health", timeout=TIMEOUT).status_code == 200
        assert Path(entry.log_path).exists()
    assert manifest.builder_nodes and manifest.validity_prover and manifest.predicate and manifest.webhook_sink
    assert devnet_settings.builder_require_https is False
    assert devnet_settings.use_mock_wallet_observer is True
    assert devnet_settings.validity_prover_url == manifest.validity_prover.url
    assert devnet_settings.predicate_api_url == f"{manifest.predicate.url}/v1/task"
    assert devnet_settings.predicate_api_key is not None
    assert devnet_settings.predicate_api_key.get_secret_value() == DEVNET_PREDICATE_API_KEY
    webhook = devnet_settings.alert_webhook_url
    assert webhook is not None and "devnet-token" not in str(webhook)  # a SecretStr: masked when printed
    assert webhook.get_secret_value() == f"{manifest.webhook_sink.url}{DEVNET_ALERT_WEBHOOK_PATH}"
    # A manifest written before these stand-ins existed still loads, without them.
    old = json.loads(devnet.manifest.to_json())
    for key in ("builder_nodes", "validity_prover", "predicate", "webhook_sink"):
        del old[key]
    older = DevnetManifest.from_json(json.dumps(old))
    assert older.builder_nodes is None and "validity_prover_url" not in older.settings_values()
    assert len(older.services()) == 3


# --- webhook sink ----------------------------------------------------------------------------


def _messages(sink: WebhookSinkStandIn) -> list[dict]:
    return httpx.get(f"{sink.url}/__messages", timeout=TIMEOUT).json()["messages"]


def test_webhook_sink_records_messages_and_answers_errors_as_discord(sink: WebhookSinkStandIn) -> None:
    posted = httpx.post(sink.webhook_url, json={"content": "[intmax] low balance", "username": "bot"}, timeout=TIMEOUT)
    assert posted.status_code == 204 and posted.content == b""
    assert httpx.post(sink.webhook_url, json={"content": "x" * 2000}, timeout=TIMEOUT).status_code == 204
    assert (
        httpx.post(sink.webhook_url, json={"embeds": [{"title": "only an embed"}]}, timeout=TIMEOUT).status_code == 204
    )
    errors = [
        (httpx.post(sink.webhook_url, json={"content": ""}, timeout=TIMEOUT), 400, 50006),
        (httpx.post(sink.webhook_url, json={"username": "bot"}, timeout=TIMEOUT), 400, 50006),
        (httpx.post(sink.webhook_url, content=b"{not json", timeout=TIMEOUT), 400, 50109),
        (httpx.post(sink.webhook_url, json={"content": "x" * 2001}, timeout=TIMEOUT), 400, 50035),
        (httpx.post(f"{sink.url}/api/webhooks/devnet", json={"content": "a"}, timeout=TIMEOUT), 404, 10015),
    ]
    for response, status, code in errors:
        assert (response.status_code, response.json()["code"]) == (status, code)
    assert errors[0][0].json()["message"] == "Cannot send an empty message"
    assert errors[4][0].json()["message"] == "Unknown Webhook"

    messages = _messages(sink)
    assert [m["content"] for m in messages] == ["[intmax] low balance", "x" * 2000, ""]
    first = messages[0]
    assert first["webhook_id"] == "devnet" and first["username"] == "bot"
    assert datetime.fromisoformat(first["received_at"]).tzinfo is not None
    assert "devnet-token" not in json.dumps(messages)
    assert sink.log_path is not None
    log = sink.log_path.read_text()
    assert "/webhooks/devnet/<token>" in log and "devnet-token" not in log


def test_webhook_sink_faults_are_answered_and_not_recorded(sink: WebhookSinkStandIn) -> None:
    fault = {"mode": "rate_limited", "count": 2, "retry_after": 1.5}
    assert httpx.post(f"{sink.url}/__faults", json=fault, timeout=TIMEOUT).status_code == 200
    for _ in range(2):
        limited = httpx.post(sink.webhook_url, json={"content": "dropped"}, timeout=TIMEOUT)
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
        assert limited.json() == {"message": "You are being rate limited.", "retry_after": 1.5, "global": False}
    assert httpx.post(sink.webhook_url, json={"content": "kept"}, timeout=TIMEOUT).status_code == 204

    assert httpx.post(f"{sink.url}/__faults", json={"mode": "http", "count": 1, "status": 502}).status_code == 200
    assert httpx.post(sink.webhook_url, json={"content": "dropped"}, timeout=TIMEOUT).status_code == 502
    # count 0 clears a pending fault.
    httpx.post(f"{sink.url}/__faults", json={"mode": "http", "count": 5}, timeout=TIMEOUT)
    httpx.post(f"{sink.url}/__faults", json={"mode": "http", "count": 0}, timeout=TIMEOUT)
    assert httpx.post(sink.webhook_url, json={"content": "kept too"}, timeout=TIMEOUT).status_code == 204
    assert [m["content"] for m in _messages(sink)] == ["kept", "kept too"]
    assert httpx.post(f"{sink.url}/__faults", json={"mode": "nope", "count": 1}, timeout=TIMEOUT).status_code == 400

    _reset(sink.url)
    assert _messages(sink) == []


# --- validity prover -------------------------------------------------------------------------


def _block_number(prover: ValidityProverStandIn) -> httpx.Response:
    return httpx.get(f"{prover.url}/block-number", timeout=TIMEOUT)


def test_validity_prover_follows_the_rollup_minus_its_lag(devnet: RunningDevnet, prover: ValidityProverStandIn) -> None:
    manifest = devnet.manifest
    rollup_entry = manifest.contracts["rollup"]
    rollup = contract_at(web3_for(manifest.l2.rpc_url), rollup_entry.contract, rollup_entry.address)
    before = rollup.functions.getLatestBlockNumber().call()
    assert _block_number(prover).json() == {"blockNumber": before}

    # Two INTMAX blocks posted (and two heartbeats, announcing the builder stand-in's URLs).
    report = Simulator(
        manifest, "sqlite://", SimulationPlan(users=0, deposits=0, withdrawals=0, builders=2, blocks=2)
    ).run()
    latest = rollup.functions.getLatestBlockNumber().call()
    assert latest == before + 2 and report.posted_blocks[-1] == latest
    assert _block_number(prover).json() == {"blockNumber": latest}

    assert httpx.post(f"{prover.url}/__lag", json={"lag": 1}, timeout=TIMEOUT).json() == {"lag": 1}
    assert _block_number(prover).json() == {"blockNumber": latest - 1}
    httpx.post(f"{prover.url}/__lag", json={"lag": latest + 10}, timeout=TIMEOUT)
    assert _block_number(prover).json() == {"blockNumber": 0}  # never below 0
    assert httpx.get(f"{prover.url}/__lag", timeout=TIMEOUT).json() == {"lag": latest + 10}
    for bad in ({"lag": -1}, {"lag": "3"}, {"lag": 1.5}, {}):
        assert httpx.post(f"{prover.url}/__lag", json=bad, timeout=TIMEOUT).status_code == 400, bad

    # The heartbeats announce {builder_nodes}/builders/{i}, whose /fee-info answers.
    registry_entry = manifest.contracts["block_builder_registry"]
    registry = contract_at(web3_for(manifest.l2.rpc_url), registry_entry.contract, registry_entry.address)
    urls = [log["args"]["url"] for log in registry.events.BlockBuilderHeartbeat().get_logs(from_block=0)]
    assert manifest.builder_nodes is not None
    assert urls[-2:] == [builder_base_url(manifest.builder_nodes.url, i) for i in (0, 1)]
    assert httpx.get(f"{urls[-1]}/fee-info", timeout=TIMEOUT).json()["blockBuilderAddress"] == Web3.to_checksum_address(
        accounts.builder(1).address
    )


def test_validity_prover_faults(prover: ValidityProverStandIn) -> None:
    healthy = _block_number(prover).json()
    httpx.post(f"{prover.url}/__faults", json={"mode": "http", "count": 1}, timeout=TIMEOUT)
    assert _block_number(prover).status_code == 503
    httpx.post(f"{prover.url}/__faults", json={"mode": "http", "count": 1, "status": 500}, timeout=TIMEOUT)
    assert _block_number(prover).status_code == 500
    httpx.post(f"{prover.url}/__faults", json={"mode": "missing_field", "count": 1}, timeout=TIMEOUT)
    missing = _block_number(prover)
    assert missing.status_code == 200 and missing.json() == {}
    httpx.post(f"{prover.url}/__faults", json={"mode": "delay", "count": 1, "delay_seconds": 0.6}, timeout=TIMEOUT)
    started = time.monotonic()
    assert _block_number(prover).json() == healthy
    assert time.monotonic() - started >= 0.6
    assert _block_number(prover).json() == healthy  # the faults were used up
    assert httpx.post(f"{prover.url}/__faults", json={"mode": "boom"}, timeout=TIMEOUT).status_code == 400


def test_validity_prover_answers_503_when_the_chain_cannot_be_read(tmp_path: Path) -> None:
    from intmax_devnet.anvil import free_port
    from intmax_devnet.validity_prover import start_standin

    # Nothing listens on this port: every chain read fails.
    standin = start_standin(f"http://127.0.0.1:{free_port()}", "0x" + "00" * 20, log_path=tmp_path / "vp.log")
    try:
        response = _block_number(standin)
        assert response.status_code == 503 and "blockNumber" not in response.json()
        assert "reading the Rollup failed" in response.json()["error"]
    finally:
        standin.stop()


# --- builder nodes ---------------------------------------------------------------------------


def _fee_info(nodes: BuilderNodesStandIn, builder: int, timeout: float = TIMEOUT) -> httpx.Response:
    return httpx.get(f"{nodes.builder_url(builder)}/fee-info", timeout=timeout)


def test_builder_nodes_serve_healthy_fee_info_per_builder(nodes: BuilderNodesStandIn) -> None:
    for builder in (0, 7, 255):
        body = _fee_info(nodes, builder).json()
        assert body["version"] == "0.1.1"
        assert body["blockBuilderAddress"] == Web3.to_checksum_address(accounts.builder(builder).address)
        assert body["beneficiary"].startswith("0x") and len(body["beneficiary"]) == 66
        assert body["registrationFee"] == [{"token_index": 0, "amount": "2000000000000"}]
        assert body["nonRegistrationFee"] == [{"token_index": 0, "amount": "1000000000000"}]
        assert body["registrationCollateralFee"] is None and body["nonRegistrationCollateralFee"] is None
    for path in ("/builders/256/fee-info", "/builders/x/fee-info", "/builders/0", "/fee-info"):
        assert httpx.get(f"{nodes.url}{path}", timeout=TIMEOUT).status_code == 404, path


def test_builder_behaviours(nodes: BuilderNodesStandIn) -> None:
    set_builder_behaviour(nodes.url, 1, "old_version")
    assert _fee_info(nodes, 1).json()["version"] == "0.0.9"
    set_builder_behaviour(nodes.url, 1, "fee_above_cap")
    assert FEE_ABOVE_CAP in [fee["amount"] for fee in _fee_info(nodes, 1).json()["nonRegistrationFee"]]
    set_builder_behaviour(nodes.url, 1, "disallowed_token")
    assert 3 in [fee["token_index"] for fee in _fee_info(nodes, 1).json()["nonRegistrationFee"]]
    set_builder_behaviour(nodes.url, 1, "error")
    assert _fee_info(nodes, 1).status_code == 500
    set_builder_behaviour(nodes.url, 1, "down")
    with pytest.raises(httpx.TransportError) as raised:
        _fee_info(nodes, 1)
    assert not isinstance(raised.value, httpx.TimeoutException)  # closed at once, not left hanging
    assert httpx.get(f"{nodes.url}/__behaviour", timeout=TIMEOUT).json()["behaviours"]["1"]["behaviour"] == "down"
    assert _fee_info(nodes, 2).status_code == 200  # only builder 1 is down
    set_builder_behaviour(nodes.url, 1, "healthy")
    assert _fee_info(nodes, 1).json()["version"] == "0.1.1"
    assert httpx.get(f"{nodes.url}/__requests", timeout=TIMEOUT).json() == {"fee_info": {"1": 6, "2": 1}}
    for builder, behaviour in ((1, "asleep"), (256, "down"), (-1, "down")):
        with pytest.raises(ValueError, match=r"(behaviour|builder) must be"):
            set_builder_behaviour(nodes.url, builder, behaviour)
    refused = httpx.post(f"{nodes.url}/__behaviour", json={"builder": 1, "behaviour": "slow", "delay_seconds": -1})
    assert refused.status_code == 400 and "delay_seconds" in refused.json()["error"]

    _reset(nodes.url)
    assert httpx.get(f"{nodes.url}/__requests", timeout=TIMEOUT).json() == {"fee_info": {}}


def test_a_slow_builder_times_out_while_another_answers_at_once(nodes: BuilderNodesStandIn) -> None:
    set_builder_behaviour(nodes.url, 4, "slow", delay_seconds=3)
    outcome: dict[str, object] = {}

    def call_slow() -> None:
        started = time.monotonic()
        try:
            _fee_info(nodes, 4, timeout=1.0)
        except httpx.TimeoutException as error:
            outcome["timeout"] = error
        outcome["seconds"] = time.monotonic() - started

    slow = threading.Thread(target=call_slow)
    slow.start()
    time.sleep(0.2)  # the slow request is being served
    started = time.monotonic()
    assert _fee_info(nodes, 5).status_code == 200
    assert time.monotonic() - started < 0.9  # not queued behind the slow one
    slow.join()
    assert "timeout" in outcome and 0.9 <= outcome["seconds"] < 3  # type: ignore[operator]
    # With a patient client the slow builder answers healthy after its delay.
    set_builder_behaviour(nodes.url, 4, "slow", delay_seconds=0.5)
    assert _fee_info(nodes, 4).json()["version"] == "0.1.1"


def test_cli_sets_a_builder_behaviour(devnet: RunningDevnet, nodes: BuilderNodesStandIn, tmp_path: Path) -> None:
    write_manifest(tmp_path, devnet.manifest)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTMAX_")} | {"INTMAX_DATA_DIR": str(tmp_path)}

    def intmax(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "intmax_cli.main", "devnet", "builder", *args]
        return subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)

    done = intmax("9", "error")
    assert done.returncode == 0 and "builder 9: error" in done.stdout, done.stderr
    assert _fee_info(nodes, 9).status_code == 500
    refused = intmax("9", "asleep")
    assert refused.returncode == 1 and "behaviour must be one of" in refused.stderr
    assert _fee_info(nodes, 9).status_code == 500  # unchanged by the refused call


# --- Predicate -------------------------------------------------------------------------------


def _task(
    predicate: PredicateStandIn, body: object = TASK, key: str | None = DEVNET_PREDICATE_API_KEY
) -> httpx.Response:
    headers = {"x-api-key": key} if key is not None else {}
    return httpx.post(predicate.task_url, json=body, headers=headers, timeout=TIMEOUT)


def test_predicate_answers_compliant_tasks_with_the_devnet_key(predicate: PredicateStandIn) -> None:
    body = _task(predicate).json()
    assert body["is_compliant"] is True and len(body["task_id"]) == 36 and body["task_id"][14] == "4"
    assert isinstance(body["expiry_block"], int) and body["expiry_block"] > 0
    assert len(body["signers"]) == 1 and Web3.is_checksum_address(body["signers"][0])
    assert len(body["signature"]) == 1 and len(body["signature"][0]) == 2 + 130
    assert _task(predicate).json()["task_id"] != body["task_id"]

    for key in (None, "wrong-key", DEVNET_PREDICATE_API_KEY + "x"):
        refused = _task(predicate, key=key)
        assert refused.status_code == 401 and refused.json() == {"error": "unauthorized"}
    for bad, problem in (
        ({**TASK, "from": "0x12"}, "from"),
        ({k: v for k, v in TASK.items() if k != "to"}, "to"),
        ({**TASK, "data": "beef"}, "data"),
        ({**TASK, "msg_value": 1000}, "msg_value"),
        ([TASK], "JSON object"),
    ):
        response = _task(predicate, bad)
        assert response.status_code == 400 and problem in response.json()["error"], bad
    not_json = httpx.post(predicate.task_url, content=b"{", headers={"x-api-key": DEVNET_PREDICATE_API_KEY})
    assert not_json.status_code == 400

    recorded = httpx.get(f"{predicate.url}/__requests", timeout=TIMEOUT).json()["requests"]
    assert recorded[:2] == [TASK, TASK] and len(recorded) == 6  # authorised JSON objects only
    assert predicate.log_path is not None
    for text in (json.dumps(recorded), predicate.log_path.read_text()):
        assert DEVNET_PREDICATE_API_KEY not in text and "wrong-key" not in text and "x-api-key" not in text


def test_predicate_answer_modes(predicate: PredicateStandIn) -> None:
    answer = lambda **mode: httpx.post(f"{predicate.url}/__answer", json=mode, timeout=TIMEOUT)  # noqa: E731
    assert answer(mode="non_compliant", count=1).status_code == 200
    assert _task(predicate).json()["is_compliant"] is False
    assert _task(predicate).json()["is_compliant"] is True  # count 1 used up
    answer(mode="non_compliant")  # no count: until reset
    assert [_task(predicate).json()["is_compliant"] for _ in range(3)] == [False] * 3
    answer(mode="error", status=503, body="upstream down", count=1)
    failed = _task(predicate)
    assert failed.status_code == 503 and failed.text == "upstream down"
    answer(mode="error", count=1)  # replaces "non_compliant until reset"; used up, the default is back
    failed = _task(predicate)
    assert (failed.status_code, failed.text) == (500, "internal error")
    assert _task(predicate).json()["is_compliant"] is True
    answer(mode="delay", delay_seconds=0.6, count=1)
    started = time.monotonic()
    assert _task(predicate).json()["is_compliant"] is True and time.monotonic() - started >= 0.6
    answer(mode="delay", delay_seconds=3, count=1)
    with pytest.raises(httpx.TimeoutException):
        httpx.post(predicate.task_url, json=TASK, headers={"x-api-key": DEVNET_PREDICATE_API_KEY}, timeout=0.5)
    assert answer(mode="maybe").status_code == 400
    assert answer(mode="error", status=200).status_code == 400
    _reset(predicate.url)
    assert httpx.get(f"{predicate.url}/__requests", timeout=TIMEOUT).json() == {"requests": []}
    assert httpx.get(f"{predicate.url}/__answer", timeout=TIMEOUT).json()["mode"] == "compliant"
