"""Alerts: the notifier against the real webhook sink stand-in and a real warehouse (SQLite and PostgreSQL),
cross-process suppression with two real OS processes, and the run-failure sensor over a real failed run
of a project job on a real Dagster instance."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from intmax_assets.definitions import build_definitions, build_resources
from intmax_core.alerts import AlertLevel, DeliveryStatus, alert_destination, notify
from intmax_core.alerts.levels import DISCORD_CONTENT_LIMIT, TRUNCATION_MARKER
from intmax_core.config import Settings, load_settings
from intmax_core.warehouse import migrate
from intmax_core.warehouse.alerts_tables import alert_deliveries
from intmax_core.warehouse.engine import make_engine
from intmax_devnet import validity_prover, webhook_sink
from intmax_devnet.devnet import RunningDevnet
from intmax_devnet.simulator import SimulationPlan, Simulator

TIMEOUT = 10.0
PROJECT_ROOT = Path(__file__).resolve().parent.parent


# --- stand-ins (shared with test_monitors) -----------------------------------------------------


@pytest.fixture(scope="module")
def sink_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webhook_sink.WebhookSinkStandIn]:
    standin = webhook_sink.start_standin(log_path=tmp_path_factory.mktemp("webhook-sink") / "sink.log")
    yield standin
    standin.stop()


@pytest.fixture
def sink(sink_process: webhook_sink.WebhookSinkStandIn) -> webhook_sink.WebhookSinkStandIn:
    """The sink, emptied of earlier tests' messages and faults."""
    httpx.post(f"{sink_process.url}/__reset", json={}, timeout=TIMEOUT).raise_for_status()
    return sink_process


@pytest.fixture
def prover(devnet: RunningDevnet, tmp_path: Path) -> Iterator[validity_prover.ValidityProverStandIn]:
    """A validity prover stand-in following the devnet Rollup (its own process, for a clean lag)."""
    standin = validity_prover.start_standin(
        devnet.manifest.l2.rpc_url, devnet.manifest.contracts["rollup"].address, log_path=tmp_path / "prover.log"
    )
    yield standin
    standin.stop()


def sink_messages(sink: webhook_sink.WebhookSinkStandIn) -> list[str]:
    response = httpx.get(f"{sink.url}/__messages", timeout=TIMEOUT)
    response.raise_for_status()
    return [message["content"] for message in response.json()["messages"]]


def sink_fault(sink: webhook_sink.WebhookSinkStandIn, **fault: object) -> None:
    httpx.post(f"{sink.url}/__faults", json=fault, timeout=TIMEOUT).raise_for_status()


def post_rollup_blocks(devnet: RunningDevnet, blocks: int) -> None:
    """Post `blocks` INTMAX blocks on the devnet Rollup (reverted after the test by the devnet fixture)."""
    plan = SimulationPlan(users=0, deposits=0, withdrawals=0, builders=1, blocks=blocks)
    Simulator(devnet.manifest, "sqlite://", plan).run()


def delivery_rows(url: str) -> list[dict]:
    engine = make_engine(url)
    with engine.connect() as connection:
        rows = [dict(row) for row in connection.execute(select(alert_deliveries)).mappings()]
    engine.dispose()
    return rows


@pytest.fixture
def alert_settings(warehouse_url: str, sink: webhook_sink.WebhookSinkStandIn) -> Settings:
    """A non-devnet deployment (the URL must never be logged) alerting to the sink, on a migrated warehouse."""
    migrate.upgrade(warehouse_url)
    return load_settings(
        network="testnet",
        database_url=warehouse_url,
        alert_webhook_url=sink.webhook_url,
        alert_app_target="intmax-test",
    )


# --- the notifier --------------------------------------------------------------------------------


def test_an_alert_is_posted_with_the_exact_text_and_repeats_are_suppressed(
    alert_settings: Settings, sink: webhook_sink.WebhookSinkStandIn, warehouse_url: str
) -> None:
    first = notify(alert_settings, AlertLevel.WARN, "block-sync-monitor", "Block difference: 5")
    assert first.status is DeliveryStatus.SENT and first.delivered and first.attempts == 1
    assert sink_messages(sink) == ["[WARN] [intmax-test] block-sync-monitor Block difference: 5"]

    again = notify(alert_settings, AlertLevel.WARN, "block-sync-monitor", "Block difference: 5")
    assert again.status is DeliveryStatus.SUPPRESSED
    # Another level, service or message is another alert.
    assert notify(alert_settings, AlertLevel.FATAL, "block-sync-monitor", "Block difference: 5").delivered
    assert notify(alert_settings, AlertLevel.WARN, "wallet-observer", "Block difference: 5").delivered
    assert len(sink_messages(sink)) == 3

    [row] = [r for r in delivery_rows(warehouse_url) if r["dedupe_key"] == first.dedupe_key]
    assert (row["level"], row["service"], row["sent_count"], row["suppressed_count"]) == (
        "WARN",
        "block-sync-monitor",
        1,
        1,
    )
    assert row["last_sent_at"] is not None and row["last_error"] is None


def test_an_identical_alert_is_sent_again_after_the_suppression_period(
    alert_settings: Settings, sink: webhook_sink.WebhookSinkStandIn
) -> None:
    settings = alert_settings.model_copy(update={"alert_suppress_seconds": 1.0})
    assert notify(settings, AlertLevel.INFO, "svc", "hello").delivered
    assert notify(settings, AlertLevel.INFO, "svc", "hello").status is DeliveryStatus.SUPPRESSED
    time.sleep(1.2)
    assert notify(settings, AlertLevel.INFO, "svc", "hello").delivered
    assert sink_messages(sink) == ["[INFO] [intmax-test] svc hello"] * 2


def test_a_long_alert_is_truncated_to_discords_limit(
    alert_settings: Settings, sink: webhook_sink.WebhookSinkStandIn
) -> None:
    result = notify(alert_settings, AlertLevel.INFO, "wallet-observer", "x" * 5000)
    assert result.delivered  # the sink, like Discord, answers 400 to content over 2000 characters
    [content] = sink_messages(sink)
    assert len(content) == DISCORD_CONTENT_LIMIT and content.endswith(TRUNCATION_MARKER)
    assert content.startswith("[INFO] [intmax-test] wallet-observer xxx")


def test_a_long_rate_limit_is_a_reported_failure_that_releases_the_claim_and_never_shows_the_url(
    alert_settings: Settings,
    sink: webhook_sink.WebhookSinkStandIn,
    warehouse_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sink_fault(sink, mode="rate_limited", count=1, retry_after=30)
    started = time.monotonic()
    failed = notify(alert_settings, AlertLevel.FATAL, "svc", "the sky is falling")
    assert time.monotonic() - started < 5  # a 30 s wait is not honoured
    assert failed.status is DeliveryStatus.FAILED and failed.attempts == 1
    assert failed.error is not None and "429" in failed.error
    assert sink_messages(sink) == []
    [row] = delivery_rows(warehouse_url)
    assert row["last_sent_at"] is None and row["sent_count"] == 0 and "429" in row["last_error"]

    # The claim was released: the next attempt sends, and clears the error.
    assert notify(alert_settings, AlertLevel.FATAL, "svc", "the sky is falling").delivered
    assert sink_messages(sink) == ["[FATAL] [intmax-test] svc the sky is falling"]
    [row] = delivery_rows(warehouse_url)
    assert row["sent_count"] == 1 and row["last_error"] is None

    url = alert_settings.alert_webhook_url.get_secret_value()  # type: ignore[union-attr]
    token = url.rsplit("/", 1)[-1]
    assert any("429" in record.getMessage() for record in caplog.records)
    for record in caplog.records:
        assert url not in record.getMessage() and token not in record.getMessage()
    assert token not in repr(failed) and token not in str(failed.error)


def test_a_short_rate_limit_is_waited_out_once(alert_settings: Settings, sink: webhook_sink.WebhookSinkStandIn) -> None:
    sink_fault(sink, mode="rate_limited", count=1, retry_after=0.3)
    result = notify(alert_settings, AlertLevel.INFO, "svc", "after a short wait")
    assert result.delivered and result.attempts == 2
    assert sink_messages(sink) == ["[INFO] [intmax-test] svc after a short wait"]


def test_an_unreachable_webhook_is_retried_once_and_reported_without_the_url(
    alert_settings: Settings, sink: webhook_sink.WebhookSinkStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # The sink's URL on a port nothing listens on.
    closed = httpx.URL(sink.webhook_url).copy_with(port=1)
    settings = alert_settings.model_copy(update={"alert_webhook_url": SecretStr(str(closed))})
    result = notify(settings, AlertLevel.WARN, "svc", "nobody listens")
    assert result.status is DeliveryStatus.FAILED and result.attempts == 2
    assert result.error is not None and result.error.startswith("network error")
    assert "devnet-token" not in result.error
    assert all("devnet-token" not in record.getMessage() for record in caplog.records)
    # A server error is retried once too: one fault, then delivered.
    sink_fault(sink, mode="http", count=1, status=502)
    assert notify(alert_settings, AlertLevel.WARN, "svc", "after a 502").attempts == 2
    assert sink_messages(sink) == ["[WARN] [intmax-test] svc after a 502"]


def test_without_a_webhook_alerts_are_only_logged(warehouse_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    settings = load_settings(network="testnet", database_url=warehouse_url, alert_app_target="t")
    result = notify(settings, AlertLevel.WARN, "svc", "only in the log")
    assert result.status is DeliveryStatus.LOGGED
    [record] = [r for r in caplog.records if r.getMessage() == "[WARN] [t] svc only in the log"]
    assert record.levelno == logging.WARNING


def test_only_the_devnet_may_name_the_webhook_url(alert_settings: Settings) -> None:
    url = alert_settings.alert_webhook_url.get_secret_value()  # type: ignore[union-attr]
    assert alert_destination(alert_settings) == "Discord webhook (configured)"
    assert alert_destination(alert_settings.model_copy(update={"network": "mainnet"})) == "Discord webhook (configured)"
    assert alert_destination(alert_settings.model_copy(update={"network": "devnet"})) == url


RACER = """
import sys, time
from intmax_core.alerts import AlertLevel, notify
from intmax_core.config import load_settings
from intmax_core.warehouse.engine import shared_engine

database_url, webhook_url, start, rounds = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
settings = load_settings(network="testnet", database_url=database_url, alert_webhook_url=webhook_url)
shared_engine(settings.warehouse_url).connect().close()  # connected before the start line
for round in range(rounds):
    while time.time() < start + round * 0.5:
        time.sleep(0.0005)
    print(notify(settings, AlertLevel.WARN, "race", f"same alert {round}").status.value, flush=True)
"""


def test_two_processes_raising_the_same_alert_at_once_send_one_message(
    alert_settings: Settings, sink: webhook_sink.WebhookSinkStandIn, warehouse_url: str
) -> None:
    rounds = 3
    start = time.time() + 8  # both processes have imported and connected by then (2 busy cores)
    args = [warehouse_url, sink.webhook_url, str(start), str(rounds)]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    racers = [
        subprocess.Popen([sys.executable, "-c", RACER, *args], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    outputs = [racer.communicate(timeout=60)[0].split() for racer in racers]
    assert all(racer.returncode == 0 for racer in racers)
    for round in range(rounds):
        assert sorted(output[round] for output in outputs) == ["sent", "suppressed"]
    assert sorted(sink_messages(sink)) == [f"[WARN] [intmax-pipeline] race same alert {r}" for r in range(rounds)]


# --- the run-failure sensor ----------------------------------------------------------------------


def _tick(defs: dg.Definitions, instance: dg.DagsterInstance, settings: Settings, cursor: str | None):  # type: ignore[no-untyped-def]
    sensor = defs.get_sensor_def("run_failure_alert_sensor")
    # No `definitions=`: runs executed in process have no code-location origin, and neither may the sensor.
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=build_resources(settings))
    return sensor.evaluate_tick(context)


def test_a_failed_run_is_alerted_once_as_fatal(
    devnet_settings: Settings,
    warehouse_url: str,
    sink: webhook_sink.WebhookSinkStandIn,
    prover: validity_prover.ValidityProverStandIn,
) -> None:
    migrate.upgrade(warehouse_url)
    settings = devnet_settings.model_copy(
        update={
            "database_url": warehouse_url,
            "alert_webhook_url": SecretStr(sink.webhook_url),
            "validity_prover_url": prover.url,
        }
    )
    defs = build_definitions(settings)
    job = defs.resolve_job_def("block_sync_monitor_job")
    with dg.instance_for_test() as instance:
        initial = _tick(defs, instance, settings, None)  # the sensor's first tick only sets its cursor
        # A real failure of a project job: the validity prover answers 503.
        httpx.post(f"{prover.url}/__faults", json={"mode": "http", "count": 1}, timeout=TIMEOUT).raise_for_status()
        failed = job.execute_in_process(instance=instance, raise_on_error=False)
        assert not failed.success

        first = _tick(defs, instance, settings, initial.cursor)
        [alert] = sink_messages(sink)
        assert alert.startswith(
            f"[FATAL] [intmax-pipeline] dagster-run-failure Job block_sync_monitor_job failed (run {failed.run_id}): "
        )
        assert alert.endswith(
            "step block_sync_monitor: block sync unknown: validity prover answered HTTP 503 to GET /block-number"
        )
        assert "Traceback" not in alert and "\n" not in alert
        assert "http://" not in alert

        # The cursor moved past the failure: no second message for it.
        _tick(defs, instance, settings, first.cursor)
        # Even with the cursor lost, the suppression table keeps the run from being alerted twice.
        _tick(defs, instance, settings, initial.cursor)
        assert len(sink_messages(sink)) == 1

        # Another failed run is another alert.
        httpx.post(f"{prover.url}/__faults", json={"mode": "missing_field", "count": 1}, timeout=TIMEOUT)
        second_failure = job.execute_in_process(instance=instance, raise_on_error=False)
        assert not second_failure.success
        _tick(defs, instance, settings, first.cursor)
        messages = sink_messages(sink)
        assert len(messages) == 2 and f"(run {second_failure.run_id})" in messages[1]
        assert "blockNumber" in messages[1]
