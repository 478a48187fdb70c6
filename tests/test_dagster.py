"""The Dagster code location: loads, materializes on both warehouses, and runs on a PostgreSQL instance."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import Engine, create_engine, insert, text

from intmax_assets.definitions import build_definitions, build_resources
from intmax_assets.defs.withdrawals import withdrawals_asset
from intmax_assets.resources import WarehouseResource
from intmax_core.config import load_settings
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import make_engine, normalize_url, shared_engine
from intmax_core.warehouse.schema import withdrawals
from tests.conftest import PROJECT_ROOT


def test_definitions_validate(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTMAX_")}
    env["DAGSTER_HOME"] = str(tmp_path)
    env["INTMAX_DATA_DIR"] = str(tmp_path / "data")
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "All code locations passed validation" in result.stderr + result.stdout


def test_definitions_carry_resources_from_settings() -> None:
    settings = load_settings(l1_rpc_urls="http://127.0.0.1:1", l2_confirmations=7, database_url="sqlite:///x.db")
    defs = build_definitions(settings)
    assert defs.resolve_assets_def("withdrawals") is not None
    resources = build_resources(settings)
    assert resources["l1"].rpc_urls == ["http://127.0.0.1:1"]
    assert resources["l2"].confirmations == 7
    assert resources["warehouse"].url == "sqlite:///x.db"


def _seed_withdrawals(url: str, statuses: list[str]) -> None:
    migrate.upgrade(url)
    with make_engine(url).begin() as connection:
        for i, status in enumerate(statuses):
            connection.execute(
                insert(withdrawals).values(
                    withdrawal_hash="0x" + f"{i:064x}",
                    status=status,
                    pubkey="0x" + "01" * 32,
                    recipient="0x" + "02" * 20,
                    contract_withdrawal={
                        "recipient": "0x" + "02" * 20,
                        "tokenIndex": 0,
                        "amount": "1",
                        "nullifier": "0x" + "03" * 32,
                    },
                )
            )


def test_withdrawals_asset_reports_statuses(warehouse_url: str) -> None:
    _seed_withdrawals(warehouse_url, ["requested", "requested", "relayed", "success"])
    settings = load_settings(database_url=warehouse_url)
    result = dg.materialize([withdrawals_asset], resources=build_resources(settings))
    assert result.success
    metadata = result.asset_materializations_for_node("withdrawals")[0].metadata
    counts = {key: value.value for key, value in metadata.items() if key.endswith("_count")}
    assert counts == {
        "requested_count": 2,
        "relayed_count": 1,
        "success_count": 1,
        "need_claim_count": 0,
        "failed_count": 0,
    }
    assert metadata["oldest_requested_age_seconds"].value >= 0


def test_postgres_instance_runs_a_materialization(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dagster_home/dagster.postgres.yaml is a working production instance config."""
    shutil.copy(PROJECT_ROOT / "dagster_home" / "dagster.postgres.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("INTMAX_DAGSTER_POSTGRES_URL", normalize_url(postgres_url))
    warehouse = f"sqlite:///{tmp_path / 'warehouse.db'}"
    _seed_withdrawals(warehouse, ["failed"])
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        result = dg.materialize(
            [withdrawals_asset],
            resources=build_resources(load_settings(database_url=warehouse)),
            instance=instance,
        )
        assert result.success
        record = instance.get_latest_materialization_event(dg.AssetKey("withdrawals"))
        assert record is not None and record.run_id == result.run_id
    engine = create_engine(normalize_url(postgres_url))
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT count(*) FROM runs WHERE run_id = :r"), {"r": result.run_id}).scalar()
    engine.dispose()
    assert stored == 1, "the run must be stored in PostgreSQL, not in a local SQLite file"


def _engine_recording_sensor(seen: list[Engine]) -> dg.SensorDefinition:
    """A sensor that reads the warehouse the way the project's sensors do, and records its engine."""

    @dg.sensor(name="records_warehouse_engine", required_resource_keys={"warehouse"})
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        engine = context.resources.warehouse.engine
        with engine.connect() as connection:
            connection.execute(text("SELECT 1")).scalar_one()
        seen.append(engine)
        return dg.SkipReason("recorded")

    return _sensor


def test_warehouse_engine_is_one_per_process_across_resources_and_sensor_ticks(warehouse_url: str) -> None:
    """Dagster builds new resource instances per tick: each must not bring its own pool."""
    first, second = WarehouseResource(url=warehouse_url), WarehouseResource(url=warehouse_url)
    assert first.engine is second.engine is shared_engine(warehouse_url)
    seen: list[Engine] = []
    sensor = _engine_recording_sensor(seen)
    for _ in range(2):
        resources = {"warehouse": WarehouseResource(url=warehouse_url)}
        with dg.build_sensor_context(resources=resources) as context:
            assert sensor.evaluate_tick(context).skip_message == "recorded"
    assert len(seen) == 2 and seen[0] is seen[1] is first.engine
    # Every connection the ticks used went back to the pool.
    assert first.engine.pool.checkedout() == 0


def test_shared_engine_gives_a_forked_child_its_own_connections(postgres_url: str) -> None:
    """A child must neither use nor close the PostgreSQL sessions it inherited from its parent."""
    engine = shared_engine(postgres_url)
    pid_query = text("SELECT pg_backend_pid()")
    with engine.connect() as connection:
        parent_backend = connection.execute(pid_query).scalar_one()
    assert engine.pool.checkedin() == 1  # the parent's session waits in the pool across the fork
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            with shared_engine(postgres_url).connect() as connection:
                os.write(write_end, str(connection.execute(pid_query).scalar_one()).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        child_backend = int(pipe.read() or 0)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_backend not in (0, parent_backend), "the child used its parent's pooled session"
    with engine.connect() as connection:
        # Same session as before the fork: the child did not close it (pre-ping would hide a new one).
        assert connection.execute(pid_query).scalar_one() == parent_backend
    assert engine.pool.checkedout() == 0


DAGSTER_NOTICES = ("BetaWarning", "PreviewWarning", "SupersessionWarning")


def test_loading_the_code_location_logs_no_dagster_notices(tmp_path: Path) -> None:
    """Every code server and run worker loads the definitions; Dagster's Beta/Preview/Supersession
    notices about our deliberate choices (backfill_policy, ...) must not fill the run log each time."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTMAX_")} | {"INTMAX_DATA_DIR": str(tmp_path)}
    loaded = subprocess.run(
        [sys.executable, "-W", "always", "-c", "import intmax_assets.definitions"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert not [line for line in loaded.stderr.splitlines() if any(n in line for n in DAGSTER_NOTICES)]


def test_dagster_dev_environment_silences_only_the_dev_command_notice(monkeypatch: pytest.MonkeyPatch) -> None:
    """`intmax dagster` passes a PYTHONWARNINGS filter for `dagster dev`'s own notice, keeping the user's."""
    from intmax_cli.processes import dagster_environment

    monkeypatch.setenv("PYTHONWARNINGS", "error::ResourceWarning")
    env = dagster_environment()
    assert env["PYTHONWARNINGS"].startswith("error::ResourceWarning,")
    script = (
        "import warnings\n"
        "warnings.warn(\"Function `dev_command` is superseded and its usage is discouraged. Use 'dg dev'\")\n"
        "warnings.warn('an unrelated notice')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "dev_command" not in done.stderr
    assert "an unrelated notice" in done.stderr
