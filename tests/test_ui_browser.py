"""The Dagster UI and the API docs in a real browser (Playwright driving Debian's chromium).

One Dagster (code server, webserver, daemon; sensors and schedules stopped) runs for the module
on the session devnet, with one deposit on L1 so that its day's partition holds real chain data;
one chromium serves every test. What the UI shows is asserted in the browser; runs are followed
(and, where the UI cannot start them, launched) through the webserver's GraphQL. A failing test
leaves a full-page screenshot in test-artifacts/browser/ (see tests/browser.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Route, expect
from sqlalchemy import func, insert, select
from web3.logs import DISCARD

from intmax_assets.definitions import build_definitions
from intmax_assets.defs.indexing import asset_key, partitions
from intmax_assets.defs.indexing.checks import check_names
from intmax_core.config import Settings, load_settings
from intmax_core.devnet_manifest import write_manifest
from intmax_core.indexing.streams import STREAMS_BY_NAME, stream_source
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.event_tables import EVENT_TABLES
from intmax_devnet import accounts
from intmax_devnet.anvil import free_port, stop_process_group
from intmax_devnet.deployer import transact
from intmax_devnet.devnet import RunningDevnet, web3_for
from tests.browser import REPOSITORY_SELECTOR, UI_TIMEOUT_MS, RunningDagster, running_dagster
from tests.conftest import PROJECT_ROOT
from tests.devnet_activity import contract

pytestmark = pytest.mark.xdist_group("browser")
# The chromium and browser_page fixtures, and the hook that keeps failure screenshots.
pytest_plugins = ["tests.browser"]

LIQUIDITY = STREAMS_BY_NAME["l1_liquidity"]
ASSET = asset_key(LIQUIDITY).to_user_string()
# Days of partitions before the deposit's day: the launch dialog then has days to choose from.
EARLIER_DAYS = 3
RUN_TIMEOUT_SECONDS = 150.0
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


@dataclass(frozen=True)
class Stack:
    dagster: RunningDagster
    settings: Settings
    day: str  # the UTC day of the deposit: its partition holds chain data
    deposit_id: int
    # A run launched as the stack comes up (its ~20 s of start-up overlap the tests before the one
    # that looks at it), on the first day, an empty one, so that no other test's partition sees it.
    failing_run_id: str
    failing_rpc_key: str  # in its L1 RPC URL, as a provider's API key would be


def broken_l1(key: str) -> dict[str, Any]:
    """Run config for the l1 resource: an RPC URL on a closed port, with a provider key in its path."""
    return {"resources": {"l1": {"config": {"name": "L1", "rpc_urls": [f"http://127.0.0.1:{free_port()}/v2/{key}"]}}}}


@pytest.fixture(scope="module")
def stack(devnet_session: RunningDevnet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("ui-browser")
    l1 = web3_for(devnet_session.manifest.l1.rpc_url)
    # The deposit (and the blocks below) are reverted afterwards, like the `devnet` fixture does.
    snapshot = l1.provider.make_request("evm_snapshot", [])["result"]
    try:
        liquidity = contract(l1, devnet_session.manifest, "liquidity")
        deposit = liquidity.functions.depositNativeToken(os.urandom(32), b"", b"")
        receipt = transact(l1, deposit, accounts.role("builder").address, value=10**15)
        (deposited,) = liquidity.events.Deposited().process_receipt(receipt, errors=DISCARD)
        day = datetime.fromtimestamp(l1.eth.get_block(receipt["blockNumber"])["timestamp"], UTC).date()
        data_dir = work / "data"
        write_manifest(data_dir, devnet_session.manifest)
        warehouse = f"sqlite:///{data_dir / 'warehouse.db'}"
        migrate.upgrade(warehouse)
        start = (day - timedelta(days=EARLIER_DAYS)).isoformat()
        settings = load_settings(data_dir=data_dir, database_url=warehouse, indexing_start_date=start)
        for _ in range(settings.l1_confirmations):  # the deposit's block must be final to be indexed
            l1.provider.make_request("evm_mine", [])
        env = {k: v for k, v in os.environ.items() if not k.startswith("INTMAX_")}
        env |= {"INTMAX_DATA_DIR": str(data_dir), "INTMAX_DATABASE_URL": warehouse}
        env |= {"INTMAX_INDEXING_START_DATE": start}
        with running_dagster(work, env, dequeue_interval_seconds=1) as dagster:
            key = "k3y-" + os.urandom(6).hex()
            failing_run_id = launch_partition_run(dagster, start, broken_l1(key))
            yield Stack(dagster, settings, day.isoformat(), deposited["args"]["depositId"], failing_run_id, key)
    finally:
        assert l1.provider.make_request("evm_revert", [snapshot])["result"] is True


# ------------------------------------------------------------------------------------------------
# Runs through GraphQL

LAUNCH_RUN = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
  }
}
"""

RUN_STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"

PARTITION_RUNS = """
query($tags: [ExecutionTag!]) { runsOrError(filter: {tags: $tags}) { ... on Runs { results { runId } } } }
"""


def launch_partition_run(dagster: RunningDagster, day: str, run_config: dict[str, Any] | None = None) -> str:
    """One run of the indexing asset for one day, as the UI's Materialize would launch it (all checks)."""
    params = {
        "selector": {**REPOSITORY_SELECTOR, "jobName": "__ASSET_JOB", "assetSelection": [{"path": [ASSET]}]},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": day}]},
        "runConfigData": run_config or {},
    }
    launched = dagster.graphql(LAUNCH_RUN, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def wait_for_run(dagster: RunningDagster, run_id: str) -> str:
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while (status := dagster.graphql(RUN_STATUS, {"id": run_id})["runOrError"]["status"]) not in TERMINAL:
        assert time.monotonic() < deadline, f"run {run_id} still {status}; logs in {dagster.log_dir}"
        time.sleep(1)
    return status


def deposited_rows(settings: Settings, deposit_id: int) -> int:
    table = EVENT_TABLES["Deposited"]
    engine = make_engine(settings.warehouse_url)
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).where(table.c.deposit_id == deposit_id)).scalar_one()
    engine.dispose()
    return count


# ------------------------------------------------------------------------------------------------
# The Dagster UI


def test_asset_graph_shows_every_asset_group(stack: Stack, browser_page: Page) -> None:
    groups = {spec.group_name for spec in build_definitions(stack.settings).resolve_all_asset_specs()}
    assert len(groups) > 1 and "indexing" in groups
    browser_page.goto(f"{stack.dagster.url}/asset-groups")
    expect(browser_page.get_by_text("Global asset lineage")).to_be_visible()
    for group in sorted(groups):
        expect(browser_page.get_by_text(group, exact=True).first).to_be_visible()


def test_indexing_asset_shows_its_daily_partitions(stack: Stack, browser_page: Page) -> None:
    keys = partitions(stack.settings).get_partition_keys()
    assert len(keys) > EARLIER_DAYS and keys[0] == stack.settings.indexing_start_date.isoformat()
    browser_page.goto(f"{stack.dagster.url}/assets/{ASSET}?view=partitions")
    expect(browser_page.get_by_text(f"{len(keys)} Partitions Selected")).to_be_visible()
    for key in keys:
        expect(browser_page.get_by_text(key, exact=True).first).to_be_visible()


def test_one_day_backfill_launched_from_the_ui_completes(stack: Stack, browser_page: Page) -> None:
    page = browser_page
    page.goto(f"{stack.dagster.url}/assets/{ASSET}")
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(f"Launch runs to materialize {ASSET}")).to_be_visible()
    days = dialog.get_by_role("textbox").first
    days.fill(stack.day)
    days.press("Enter")
    expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
    # One selected day launches as one partitioned run (Dagster makes a backfill of 2+ partitions).
    dialog.get_by_role("button", name="Launch 1 run").click()
    toast = page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}"))
    expect(toast).to_be_visible()
    prefix = re.search(r"[0-9a-f]{8}", toast.inner_text())
    assert prefix is not None
    tags = [{"key": "dagster/partition", "value": stack.day}]
    runs = stack.dagster.graphql(PARTITION_RUNS, {"tags": tags})["runsOrError"]["results"]
    (run_id,) = [run["runId"] for run in runs if run["runId"].startswith(prefix.group())]

    assert wait_for_run(stack.dagster, run_id) == "SUCCESS"
    # The run did real work: the day's deposit is in the warehouse the Dagster processes use.
    assert deposited_rows(stack.settings, stack.deposit_id) == 1
    page.goto(f"{stack.dagster.url}/runs/{run_id}")
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    expect(page.get_by_text(f"partition: {stack.day}")).to_be_visible()
    page.goto(f"{stack.dagster.url}/assets/{ASSET}?view=partitions")
    expect(page.get_by_text("Materialized (1)")).to_be_visible()


def _write_gap_in_deposit_ids(stack: Stack) -> int:
    """A Deposited row with id deposit_id + 2 (so deposit_id + 1 is missing); returns the missing id.

    It sits in the block just below the stream's start block: no partition run re-indexes (and so
    deletes) it, no coverage-sampled log count sees it, and its block hash is the chain's, so only
    the deposit-id audit has anything to object to."""
    source = stream_source(stack.settings, LIQUIDITY)
    block = source.start_block - 1
    assert block >= 0
    l1 = web3_for(stack.settings.l1_rpc_urls[0])
    header = l1.eth.get_block(block)
    table = EVENT_TABLES["Deposited"]
    row = {
        "chain_id": l1.eth.chain_id,
        "block_number": block,
        "log_index": 0,
        "block_hash": header["hash"].to_0x_hex(),
        "block_time": datetime.fromtimestamp(header["timestamp"], UTC),
        "tx_hash": "0x" + os.urandom(32).hex(),
        "address": source.address.lower(),
        "deposit_id": stack.deposit_id + 2,
        "sender": accounts.role("builder").address.lower(),
        "recipient_salt_hash": "0x" + os.urandom(32).hex(),
        "token_index": 0,
        "amount": 1,
        "is_eligible": True,
        "deposited_at": header["timestamp"],
    }
    engine = make_engine(stack.settings.warehouse_url)
    with engine.begin() as connection:
        connection.execute(insert(table).values(row))
    engine.dispose()
    return stack.deposit_id + 1


def test_failing_asset_check_shows_as_failed(stack: Stack, browser_page: Page) -> None:
    missing = _write_gap_in_deposit_ids(stack)
    # The checks run with their asset (the asset cannot be subset, so the UI's Execute is disabled).
    # A non-blocking check that fails does not fail the run.
    assert wait_for_run(stack.dagster, launch_partition_run(stack.dagster, stack.day)) == "SUCCESS"

    page = browser_page
    page.goto(f"{stack.dagster.url}/assets/{ASSET}?view=checks")
    # The list's rows (one per check: its name, then its latest status) have no ARIA role.
    rows = page.locator("[class*=checkRow]")
    expect(rows).to_have_count(len(check_names(LIQUIDITY)))
    failed = rows.filter(has_text="deposit_ids_contiguous")
    expect(failed).to_contain_text("failed", ignore_case=True)
    # Only the audit the gap breaks: the row is where the other audits do not look.
    expect(rows.filter(has_text=re.compile("failed", re.IGNORECASE))).to_have_count(1)
    expect(rows.filter(has_text="cursor_matches_chain")).to_contain_text("succeeded", ignore_case=True)
    failed.click()
    message = f"deposit ids are not contiguous: deposit id(s) {missing} missing before {missing + 1}"
    expect(page.get_by_text(message).first).to_be_visible()


def test_failed_run_shows_failure_and_its_error(stack: Stack, browser_page: Page) -> None:
    """The stack's run whose L1 RPC is a closed port (broken_l1): the run page says why it failed."""
    assert wait_for_run(stack.dagster, stack.failing_run_id) == "FAILURE"
    page = browser_page
    page.goto(f"{stack.dagster.url}/runs/{stack.failing_run_id}")
    expect(page.get_by_text("Failure", exact=True).first).to_be_visible()
    error = re.compile(r"RpcUnavailable: L1 eth_chainId: .*ConnectError.*gave up after \d+ attempts")
    expect(page.get_by_text(error).first).to_be_visible()
    # The error names the endpoint by position only: the URL's key is nowhere on the page.
    assert stack.failing_rpc_key not in page.content()


# ------------------------------------------------------------------------------------------------
# The API's /docs


def _serve_api(data_dir: Path, redis_url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTMAX_")}
    env |= {"INTMAX_DATA_DIR": str(data_dir), "INTMAX_REDIS_URL": redis_url}
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "intmax_cli.main", "api", "--host", "127.0.0.1", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return server, f"http://127.0.0.1:{port}"


def _wait_until_served(server: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert server.poll() is None and time.monotonic() < deadline, f"the API did not start:\n{log.read_text()}"
        time.sleep(0.2)


def _loopback(url: str) -> bool:
    parts = urlsplit(url)
    # data: and blob: URLs are the page's own bytes, not requests.
    return parts.scheme not in ("http", "https", "ws", "wss") or parts.hostname in ("127.0.0.1", "localhost", "::1")


# Found by this test: Swagger UI 4 (swagger-ui-bundle 1.x) cannot render FastAPI's OpenAPI 3.1.0 and
# showed "Unable to render this definition"; the app now bundles Swagger UI 5.
def test_api_docs_render_offline(tmp_path: Path, redis_url: str, browser_page: Page) -> None:
    log = tmp_path / "api.log"
    server, base = _serve_api(tmp_path, redis_url, log)
    try:
        _wait_until_served(server, f"{base}/openapi.json", log)
        spec = httpx.get(f"{base}/openapi.json", timeout=10).json()
        operations = sum(len(methods) for methods in spec["paths"].values())
        assert operations > 1

        requested: list[str] = []
        browser_page.on("request", lambda request: requested.append(request.url))

        def offline(route: Route) -> None:
            if _loopback(route.request.url):
                route.continue_()
            else:
                route.abort("internetdisconnected")

        browser_page.route("**/*", offline)
        browser_page.goto(f"{base}/docs")
        # Swagger UI shows either the document or why it cannot: wait for one, then require the first.
        title = browser_page.locator(".swagger-ui .info .title")
        refused = browser_page.get_by_role("heading", name="Unable to render this definition")
        expect(title.or_(refused)).to_be_visible()
        assert refused.count() == 0, browser_page.locator("#swagger-ui").inner_text()[:600]
        expect(title).to_contain_text(spec["info"]["title"])
        expect(browser_page.locator(".opblock")).to_have_count(operations)
        expect(browser_page.locator(".opblock-summary-path").filter(has_text="/v1/health").first).to_be_visible()
    finally:
        stop_process_group(server.pid, 10.0)
    assert [url for url in requested if not _loopback(url)] == []
    assert any("/docs/assets/swagger-ui-bundle.js" in url for url in requested), requested


# ------------------------------------------------------------------------------------------------
# Failure screenshots

FAILING_BROWSER_TESTS = """
pytest_plugins = ["tests.browser"]


def test_page_that_fails(browser_page):
    browser_page.set_content("<h1>a deliberately failing browser test</h1>")
    assert browser_page.title() == "not this"


def test_page_that_passes(browser_page):
    browser_page.set_content("<title>fine</title>")
    assert browser_page.title() == "fine"
"""


def test_a_failing_browser_test_leaves_a_full_page_screenshot(tmp_path: Path) -> None:
    """The hook and fixture of tests/browser.py, in a pytest run of their own with one failing test."""
    (tmp_path / "test_screenshots.py").write_text(FAILING_BROWSER_TESTS)
    env = os.environ | {"PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=UI_TIMEOUT_MS / 1000,
    )
    assert "1 failed, 1 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    shots = tmp_path / "test-artifacts" / "browser"
    assert sorted(path.name for path in shots.iterdir()) == ["test_page_that_fails.png"]
    png = (shots / "test_page_that_fails.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
