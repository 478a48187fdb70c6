"""Block builders end to end on the devnet: heartbeats with the stand-in URLs -> block_builders ->
block_builder_health (each stand-in behaviour with its reason) -> GET /v1/indexer/builders serving
only active builders in every selection mode -> a builder going down pruned from the cached list
by the API's validator, the key's TTL kept."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import httpx
import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from intmax_api.app import create_app
from intmax_api.routers.indexer import BUILDER_LIST_KEY
from intmax_assets.definitions import build_definitions
from intmax_assets.defs.builders.assets import JOB_NAME
from intmax_core.builders.registry import sync_block_builders
from intmax_core.chain.rpc import RpcClient
from intmax_core.config import Settings, load_settings
from intmax_core.indexing.indexer import StreamIndexer, safe_head
from intmax_core.indexing.streams import STREAMS_BY_NAME, stream_source
from intmax_core.warehouse import migrate
from intmax_core.warehouse.builders_tables import block_builders
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.event_tables import EVENT_TABLES
from intmax_devnet import accounts
from intmax_devnet.builder_nodes import set_builder_behaviour
from intmax_devnet.devnet import RunningDevnet, web3_for
from intmax_devnet.simulator import SimulationPlan, Simulator

# builder number -> (stand-in behaviour, the checks it must fail; () = active)
BEHAVIOURS = {
    0: ("healthy", ()),
    1: ("old_version", ("version_too_old",)),
    2: ("fee_above_cap", ("fee_above_cap",)),
    3: ("disallowed_token", ("fee_token_not_allowed",)),
    4: ("down", ("fee_info_unreachable",)),
    5: ("slow", ("fee_info_unreachable",)),
    6: ("error", ("fee_info_unreachable",)),
    7: ("healthy", ("low_balance",)),  # too little L2 ETH
    8: ("down", ()),  # allowlisted: its /fee-info is not asked, its balance is enough
    9: ("healthy", ("low_balance",)),  # allowlisted, but the balance check applies to everyone
}
ALLOWLISTED = (8, 9)
LOW_BALANCE = (7, 9)
LOW_BALANCE_WEI = 5 * 10**15  # 0.005 ETH, under the 0.01 ETH minimum


def address(number: int) -> str:
    return accounts.builder(number).address


@pytest.fixture
def builders_devnet(devnet: RunningDevnet) -> Iterator[RunningDevnet]:
    nodes = devnet.manifest.builder_nodes
    assert nodes is not None
    yield devnet
    httpx.post(f"{nodes.url}/__reset", timeout=10).raise_for_status()


@pytest.fixture
def settings(builders_devnet: RunningDevnet, devnet_settings: Settings, redis_url: str) -> Settings:
    """The devnet's settings on its SQLite warehouse: the end-to-end path runs once (the SQL that
    differs between the backends, the heartbeat upsert, is tested on both below)."""
    migrate.upgrade(devnet_settings.warehouse_url)
    return devnet_settings.model_copy(
        update={
            "redis_url": redis_url,
            "block_builder_allowlist": [address(n) for n in ALLOWLISTED],
            # 1 s per attempt instead of 5 s keeps the slow builder's three attempts short.
            "builder_fee_info_timeout_seconds": 1.0,
        }
    )


def heartbeat_and_index(devnet: RunningDevnet, settings: Settings) -> None:
    """The simulator's builders (funded, then heartbeating with the stand-in URLs), indexed."""
    plan = SimulationPlan(users=0, deposits=0, withdrawals=0, builders=len(BEHAVIOURS), blocks=0)
    Simulator(devnet.manifest, settings.warehouse_url, plan).run()
    l2 = web3_for(devnet.manifest.l2.rpc_url)
    for number in LOW_BALANCE:
        l2.provider.make_request("anvil_setBalance", [address(number), hex(LOW_BALANCE_WEI)])
    stream = STREAMS_BY_NAME["l2_block_builder_registry"]
    engine = make_engine(settings.warehouse_url)
    with RpcClient(settings.l2_rpc_urls, name="l2") as client:
        indexer = StreamIndexer(engine, client, client.chain_id(), stream_source(settings, stream))
        indexer.index_uncovered(0, safe_head(client, settings.l2_confirmations))
    engine.dispose()


def run_health_job(settings: Settings) -> dg.ExecuteInProcessResult:
    job = build_definitions(settings).resolve_job_def(JOB_NAME)
    return job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def verdicts(settings: Settings) -> dict[str, tuple[bool | None, str | None, str | None]]:
    engine = make_engine(settings.warehouse_url)
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                block_builders.c.address,
                block_builders.c.active,
                block_builders.c.inactive_checks,
                block_builders.c.inactive_reason,
            )
        ).all()
    engine.dispose()
    return {row.address: (row.active, row.inactive_checks, row.inactive_reason) for row in rows}


def test_health_marks_every_stand_in_behaviour_with_its_reason(
    builders_devnet: RunningDevnet, settings: Settings
) -> None:
    nodes_url = builders_devnet.manifest.builder_nodes.url  # type: ignore[union-attr]
    for number, (behaviour, _) in BEHAVIOURS.items():
        set_builder_behaviour(nodes_url, number, behaviour, delay_seconds=2.0 if behaviour == "slow" else None)
    heartbeat_and_index(builders_devnet, settings)

    result = run_health_job(settings)
    assert result.success

    judged = verdicts(settings)
    assert set(judged) == {address(n) for n in BEHAVIOURS}
    for number, (behaviour, checks) in BEHAVIOURS.items():
        active, failed, reason = judged[address(number)]
        assert active is (not checks), (number, behaviour, reason)
        assert (failed or "").split(",") == (list(checks) or [""]), (number, behaviour, reason)
    # The reasons say what was wrong, not just which check.
    assert "0.0.9" in judged[address(1)][2]
    assert "2500000000001" in judged[address(2)][2]
    assert "token index 3" in judged[address(3)][2]
    assert "ReadTimeout" in judged[address(5)][2] and "HTTP 500" in judged[address(6)][2]
    assert "0.005 ETH" in judged[address(7)][2]
    # Three attempts for a builder that never answers; none for an allowlisted one.
    requests = httpx.get(f"{nodes_url}/__requests", timeout=10).json()["fee_info"]
    assert requests["4"] == 3 and requests["6"] == 3 and "8" not in requests

    (materialization,) = [
        event.materialization
        for event in result.get_asset_materialization_events()
        if event.materialization.asset_key == dg.AssetKey("block_builder_health")
    ]
    metadata = {key: value.value for key, value in materialization.metadata.items()}
    assert metadata["active_builders"] == 2 and metadata["inactive_builders"] == 8
    assert metadata["failed/fee_info_unreachable"] == 3 and metadata["failed/low_balance"] == 2
    assert metadata["failed/stale_heartbeat"] == 0
    assert address(4) in metadata["inactive_reasons"] and address(0) not in metadata["inactive_reasons"]

    # A builder that recovers is active again at the next run; one whose heartbeat is 25 h old is not.
    set_builder_behaviour(nodes_url, 1, "healthy")
    engine = make_engine(settings.warehouse_url)
    with engine.begin() as connection:
        old = datetime.now(UTC) - timedelta(hours=25)
        connection.execute(
            update(block_builders).where(block_builders.c.address == address(0)).values(last_synced_at=old)
        )
    engine.dispose()
    assert run_health_job(settings).success
    judged = verdicts(settings)
    assert judged[address(1)][0] is True
    assert judged[address(0)][:2] == (False, "stale_heartbeat")


def test_an_unreadable_l2_leaves_every_verdict_as_it_was(builders_devnet: RunningDevnet, settings: Settings) -> None:
    heartbeat_and_index(builders_devnet, settings)
    assert run_health_job(settings).success
    before = verdicts(settings)
    # No Multicall3 at this address: the balances are unknown, which is not "too low".
    broken = settings.model_copy(update={"l2_multicall3_address": "0x" + "de" * 20})
    result = run_health_job(broken)
    assert not result.success
    assert verdicts(settings) == before
    assert any(v[0] for v in before.values())


def served(client: TestClient) -> list[str]:
    response = client.get("/v1/indexer/builders")
    assert response.status_code == 200
    assert all(set(entry) == {"address", "url"} for entry in response.json())
    return [entry["address"] for entry in response.json()]


def drop_cached_list(settings: Settings, client: TestClient) -> redis.Redis:
    store = client.app.state.intmax.redis  # type: ignore[attr-defined]
    connection = redis.Redis.from_url(settings.redis_url)  # type: ignore[arg-type]
    connection.delete(f"{store.key_prefix}cache:{BUILDER_LIST_KEY}")
    return connection


def test_the_api_serves_only_active_builders_and_prunes_one_that_goes_down(
    builders_devnet: RunningDevnet, settings: Settings
) -> None:
    nodes_url = builders_devnet.manifest.builder_nodes.url  # type: ignore[union-attr]
    for number, (behaviour, _) in BEHAVIOURS.items():
        if behaviour != "slow":  # the slow one is judged in the test above; here it would only take time
            set_builder_behaviour(nodes_url, number, behaviour)
    heartbeat_and_index(builders_devnet, settings)
    set_builder_behaviour(nodes_url, 5, "error")
    assert run_health_job(settings).success
    active = {address(0), address(8)}

    expected = {
        "RANDOM": lambda picked: set(picked) == active,
        "ALLOWLIST_ONLY": lambda picked: picked == [address(8)],
        "ALLOWLIST_PRIORITY": lambda picked: len(picked) == 1 and picked[0] in active,
        "GUARANTEED_ALLOWLIST": lambda picked: set(picked) == active,
    }
    for mode, check in expected.items():
        mode_settings = settings.model_copy(update={"builder_selection_mode": mode})
        with TestClient(create_app(mode_settings)) as client:
            for _ in range(5):
                drop_cached_list(mode_settings, client)
                picked = served(client)
                assert check(picked), (mode, picked)
                assert set(picked) <= active

    with TestClient(create_app(settings.model_copy(update={"builder_selection_mode": "RANDOM"}))) as client:
        assert client.get("/v1/indexer/builders/meta").json() == {"total": 2}
        assert client.get(f"/v1/indexer/builders/registration/{address(4).upper().replace('0X', '0x')}").json() == {
            "registered": True,
            "ready": False,
        }
        assert client.get(f"/v1/indexer/builders/registration/{address(0)}").json() == {
            "registered": True,
            "ready": True,
        }
        assert client.get("/v1/indexer/builders/registration/0x" + "ab" * 20).json() == {
            "registered": False,
            "ready": False,
        }

        # The list is cached under the one fixed key; builder 0 goes down while it is cached.
        connection = drop_cached_list(settings, client)
        key = f"{client.app.state.intmax.redis.key_prefix}cache:{BUILDER_LIST_KEY}"  # type: ignore[attr-defined]
        assert set(served(client)) == active
        assert client.get("/v1/indexer/builders").headers["X-Cache"] == "HIT"
        set_builder_behaviour(nodes_url, 0, "down")
        went_down = time.monotonic()
        while set(served(client)) != {address(8)}:
            assert time.monotonic() - went_down < 25, "the validator did not prune the builder"
            time.sleep(0.5)
        pruned_after = time.monotonic() - went_down
        ttl_ms = connection.pttl(key)
        # Pruned within about one validation interval (10 s) plus the three failed attempts.
        assert pruned_after < settings.builder_cache_validation_seconds + 6
        # The TTL left is what remained of the original 120 s, not a fresh 120 s.
        assert 0 < ttl_ms <= (120 - pruned_after) * 1000 + 500
        assert verdicts(settings)[address(0)][0] is False

        # The last builder of the list becomes inactive too: the key is deleted, not left empty.
        builders_devnet_l2 = web3_for(builders_devnet.manifest.l2.rpc_url)
        builders_devnet_l2.provider.make_request("anvil_setBalance", [address(8), hex(LOW_BALANCE_WEI)])
        deadline = time.monotonic() + 25
        while connection.exists(key):
            assert time.monotonic() < deadline, "the validator did not delete the emptied list"
            time.sleep(0.5)
        assert served(client) == []  # now freshly computed: nothing is active


def test_a_bad_registration_address_is_400_with_the_original_message(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        for bad in ("0x123", "0x" + "g" * 40, "1234567890123456789012345678901234567890ab"):
            response = client.get(f"/v1/indexer/builders/registration/{bad}")
            assert response.status_code == 400
            assert response.json() == {
                "code": "VALIDATION_ERROR",
                "message": "Validation Error",
                "errors": [{"path": "address", "message": "Invalid Ethereum address format"}],
            }


def test_an_older_heartbeat_never_replaces_a_newer_one(warehouse_url: str) -> None:
    migrate.upgrade(warehouse_url)
    engine = make_engine(warehouse_url)
    heartbeats = EVENT_TABLES["BlockBuilderHeartbeat"]
    builder = "0x" + "ab" * 20

    def heartbeat(block: int, log_index: int, url: str) -> dict[str, object]:
        return {
            "chain_id": 31338,
            "block_number": block,
            "log_index": log_index,
            "block_hash": "0x" + f"{block:064x}",
            "block_time": datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=block),
            "tx_hash": "0x" + f"{block * 10 + log_index:064x}",
            "address": "0x" + "cd" * 20,
            "block_builder": builder,
            "url": url,
        }

    with engine.begin() as connection:
        connection.execute(heartbeats.insert(), [heartbeat(10, 0, "https://a"), heartbeat(10, 1, "https://b")])
    assert sync_block_builders(engine, 31338).changed == 1
    with engine.begin() as connection:
        connection.execute(update(block_builders).values(active=True))
        # A backfill indexes an older heartbeat later: it must not move the row back.
        connection.execute(heartbeats.insert(), [heartbeat(5, 3, "https://old")])
    sync = sync_block_builders(engine, 31338)
    assert (sync.builders, sync.changed) == (1, 0)
    with engine.begin() as connection:
        connection.execute(heartbeats.insert(), [heartbeat(12, 0, "https://c")])
    assert sync_block_builders(engine, 31338).changed == 1
    with engine.connect() as connection:
        row = connection.execute(select(block_builders)).one()
    assert (row.url, row.heartbeat_block_number, row.active) == ("https://c", 12, True)  # the verdict is kept
    engine.dispose()


def test_concurrent_misses_of_the_shared_list_all_answer_the_same_pick(warehouse_url: str, redis_url: str) -> None:
    """Under the fixed key the first stored pick wins: requests that missed at the same moment
    (other replicas, other workers) answer it instead of each handing out its own random pick."""
    migrate.upgrade(warehouse_url)
    engine = make_engine(warehouse_url)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            block_builders.insert(),
            [
                {
                    "address": "0x" + f"{n:040x}",
                    "url": f"https://builder-{n}.example",
                    "chain_id": 31338,
                    "heartbeat_block_number": n,
                    "heartbeat_log_index": 0,
                    "heartbeat_tx_hash": "0x" + f"{n:064x}",
                    "last_synced_at": now,
                    "active": True,
                }
                for n in range(1, 9)
            ],
        )
    engine.dispose()
    settings = load_settings(
        database_url=warehouse_url, redis_url=redis_url, builder_selection_mode="RANDOM", l2_rpc_urls=[]
    )
    app = create_app(settings)

    async def fetch_all() -> list[bytes]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            responses = await asyncio.gather(*(client.get("/v1/indexer/builders") for _ in range(20)))
        await app.state.intmax.aclose()
        return [response.content for response in responses if response.status_code == 200]

    bodies = asyncio.run(fetch_all())
    assert len(bodies) == 20 and len(set(bodies)) == 1
    assert len(json.loads(bodies[0])) == 3


@pytest.mark.parametrize("public", [False, True])
def test_proxy_meta_serves_the_frp_token_only_when_marked_public(tmp_path: Path, redis_url: str, public: bool) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        redis_url=redis_url,
        l2_rpc_urls=[],
        builder_target_network="testnet",
        block_builder_version="0.2.3",
        proxy_domain="proxy.example",
        proxy_frp_token="frp-secret-token",
        proxy_frp_token_public=public,
        block_builder_max_fee_amount=123456789012345678901234567890,
    )
    migrate.upgrade(settings.warehouse_url)
    with TestClient(create_app(settings)) as client:
        response = client.get("/v1/proxy/meta")
        assert response.status_code == 200
        assert response.json() == {
            "targetNetwork": "testnet",
            "version": "0.2.3",
            "domain": "proxy.example",
            "token": "frp-secret-token" if public else "",
            "minVersion": "0.1.0",
            "maxFee": "123456789012345678901234567890",
        }
        assert ("frp-secret-token" in response.text) is public
        etag = response.headers["ETag"]
        again = client.get("/v1/proxy/meta", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.headers["X-Cache"] == "HIT"
