"""The Dagster code location: loads, materializes on both warehouses, and runs on a PostgreSQL instance."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import create_engine, insert, text

from intmax_assets.definitions import build_definitions, build_resources
from intmax_assets.defs.withdrawals import withdrawal_status_summary
from intmax_core.config import load_settings
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import make_engine, normalize_url
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
    assert defs.resolve_assets_def("withdrawal_status_summary") is not None
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


def test_withdrawal_status_summary_materializes(warehouse_url: str) -> None:
    _seed_withdrawals(warehouse_url, ["requested", "requested", "relayed", "success"])
    settings = load_settings(database_url=warehouse_url)
    result = dg.materialize([withdrawal_status_summary], resources=build_resources(settings))
    assert result.success
    metadata = result.asset_materializations_for_node("withdrawal_status_summary")[0].metadata
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
            [withdrawal_status_summary],
            resources=build_resources(load_settings(database_url=warehouse)),
            instance=instance,
        )
        assert result.success
        record = instance.get_latest_materialization_event(dg.AssetKey("withdrawal_status_summary"))
        assert record is not None and record.run_id == result.run_id
    engine = create_engine(normalize_url(postgres_url))
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT count(*) FROM runs WHERE run_id = :r"), {"r": result.run_id}).scalar()
    engine.dispose()
    assert stored == 1, "the run must be stored in PostgreSQL, not in a local SQLite file"
