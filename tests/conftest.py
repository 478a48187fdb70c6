"""Shared fixtures: warehouse databases on both backends, Redis, and a summary of what ran where."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from intmax_core.config import Settings, load_settings
from intmax_core.devnet_manifest import write_manifest
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import normalize_url
from intmax_devnet.devnet import RunningDevnet, start_devnet, web3_for

POSTGRES_ADMIN_URL = os.environ.get("INTMAX_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("INTMAX_TEST_REDIS_URL")
PROJECT_ROOT = Path(__file__).resolve().parent.parent

WAREHOUSE_BACKENDS = ["sqlite", "postgresql"]

# Tests never read a developer's own .intmax (a running devnet's manifest would configure them).
os.environ["INTMAX_DATA_DIR"] = tempfile.mkdtemp(prefix="intmax-test-data-")
_outcomes: Counter[tuple[str, str]] = Counter()


def require_postgres() -> str:
    if not POSTGRES_ADMIN_URL:
        pytest.fail("INTMAX_TEST_POSTGRES_URL is not set: run the suite with scripts/test.sh, which starts PostgreSQL")
    return POSTGRES_ADMIN_URL


def require_redis() -> str:
    if not REDIS_URL:
        pytest.fail("INTMAX_TEST_REDIS_URL is not set: run the suite with scripts/test.sh, which starts Redis")
    return REDIS_URL


def create_postgres_database() -> str:
    """A new empty database on the test server; returns its URL."""
    admin_url = require_postgres()
    name = f"intmax_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(normalize_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    admin = create_engine(normalize_url(require_postgres()), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty PostgreSQL database, for tests of PostgreSQL-only behaviour."""
    request.node.user_properties.append(("warehouse_backend", "postgresql"))
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


@pytest.fixture(params=WAREHOUSE_BACKENDS)
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty warehouse database, once on SQLite and once on PostgreSQL."""
    request.node.user_properties.append(("warehouse_backend", request.param))
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'warehouse.db'}"
    else:
        url = create_postgres_database()
        yield url
        drop_postgres_database(url)


@pytest.fixture
def redis_url() -> str:
    return require_redis()


@pytest.fixture(scope="session")
def devnet_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevnet]:
    """Both chains, started once per test session with every contract deployed (kept short:
    anvil slows down as a chain grows, so tests revert what they mine)."""
    devnet = start_devnet(tmp_path_factory.mktemp("devnet-logs"))
    yield devnet
    devnet.stop()


@pytest.fixture
def devnet(devnet_session: RunningDevnet) -> Iterator[RunningDevnet]:
    """The session devnet, reverted after the test to the state it had before (evm_snapshot/evm_revert)."""
    chains = [web3_for(devnet_session.l1.rpc_url), web3_for(devnet_session.l2.rpc_url)]
    snapshots = [w3.provider.make_request("evm_snapshot", [])["result"] for w3 in chains]
    yield devnet_session
    for w3, snapshot in zip(chains, snapshots, strict=True):
        assert w3.provider.make_request("evm_revert", [snapshot])["result"] is True


@pytest.fixture
def devnet_settings(devnet: RunningDevnet, tmp_path: Path) -> Settings:
    """Settings as the pipeline sees them on the devnet: from its manifest, with a fresh SQLite warehouse."""
    write_manifest(tmp_path, devnet.manifest)
    return load_settings(data_dir=tmp_path)


@pytest.fixture
def relay_settings(devnet_settings: Settings, warehouse_url: str) -> Settings:
    migrate.upgrade(warehouse_url)
    # Relay as soon as one deposit waits: the policy itself is tested separately.
    return devnet_settings.model_copy(update={"database_url": warehouse_url, "deposit_relay_min_deposits": 1})


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
        return
    backend = dict(report.user_properties).get("warehouse_backend")
    if backend:
        _outcomes[(backend, report.outcome)] += 1


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if not _outcomes:
        return
    parts = []
    for backend in WAREHOUSE_BACKENDS:
        counts = {outcome: n for (b, outcome), n in _outcomes.items() if b == backend}
        parts.append(
            f"{backend}: " + ", ".join(f"{n} {o}" for o, n in sorted(counts.items())) if counts else f"{backend}: none"
        )
    terminalreporter.write_line("warehouse tests by backend -> " + "; ".join(parts))
