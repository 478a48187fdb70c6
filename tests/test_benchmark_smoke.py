"""The indexing benchmark measures the right thing: what its (b) path indexes is exactly what it generated."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, update

from benchmarks.indexing import BenchmarkError, Generation, expected_deposits, verify_indexed_deposits
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.event_tables import EVENT_TABLES

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BENCHMARK = PROJECT_ROOT / "benchmarks" / "indexing.py"
# Not a multiple of the 200 deposits per transaction (the last one is partial), and one block per
# eth_getLogs chunk, so chunk boundaries fall between the generated blocks.
CHECK_EVENTS = 1_050
CHECK_TIMEOUT_SECONDS = 90


@pytest.mark.timeout(CHECK_TIMEOUT_SECONDS + 10)
def test_benchmark_indexes_exactly_the_generated_deposits_on_both_backends() -> None:
    """`--check` runs the benchmark's own generation and (b) worker, then compares every row."""
    postgres = os.environ.get("INTMAX_TEST_POSTGRES_URL")
    if not postgres:
        pytest.fail("INTMAX_TEST_POSTGRES_URL is not set: run the suite with scripts/test.sh, which starts PostgreSQL")
    env = {key: value for key, value in os.environ.items() if key != "INTMAX_BENCH_POSTGRES_URL"}
    command = [sys.executable, str(BENCHMARK), "--check", "--events", str(CHECK_EVENTS), "--range-blocks", "1"]
    done = subprocess.run(
        [*command, "--postgres-url", postgres],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=CHECK_TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for backend in ("SQLite", "PostgreSQL"):
        assert (
            f"check passed ({backend}): {CHECK_EVENTS:,} Deposited rows are exactly the {CHECK_EVENTS:,} "
            f"generated deposits (ids 1..{CHECK_EVENTS})" in done.stdout
        ), done.stdout


# A small generation as generate_deposits describes it: 5 deposits, 2 per transaction.
GENERATION = Generation(
    events=5, first_block=10, last_block=12, transactions=3, seconds=0.0, depositor="0x" + "ab" * 20, deposits_per_tx=2
)
BLOCK_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def _warehouse_with_generated_rows(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate.upgrade(url)
    rows = [
        {
            "chain_id": 31337,
            "block_number": GENERATION.first_block + (deposit.deposit_id - 1) // 2,
            "log_index": deposit.deposit_id,
            "block_hash": "0x" + "11" * 32,
            "block_time": BLOCK_TIME,
            "tx_hash": "0x" + "22" * 32,
            "address": "0x" + "33" * 20,
            "deposited_at": int(BLOCK_TIME.timestamp()),
            **vars(deposit),
        }
        for deposit in expected_deposits(GENERATION)
    ]
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(insert(EVENT_TABLES["Deposited"]), rows)
    engine.dispose()
    return url


def _tamper(url: str, statement) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(statement)
    engine.dispose()


def test_the_check_accepts_exactly_the_generated_rows_and_rejects_any_difference(tmp_path: Path) -> None:
    """The check itself can fail: a wrong amount, a missing row, a foreign sender or a wrong block."""
    table = EVENT_TABLES["Deposited"]
    url = _warehouse_with_generated_rows(tmp_path)
    verify_indexed_deposits(url, GENERATION)
    assert [d.deposit_id for d in expected_deposits(GENERATION)] == [1, 2, 3, 4, 5]

    _tamper(url, update(table).where(table.c.deposit_id == 3).values(amount=2))
    with pytest.raises(BenchmarkError, match="deposit 3"):
        verify_indexed_deposits(url, GENERATION)
    _tamper(url, update(table).where(table.c.deposit_id == 3).values(amount=1))
    verify_indexed_deposits(url, GENERATION)

    with pytest.raises(BenchmarkError, match="deposit 1"):
        verify_indexed_deposits(url, replace(GENERATION, depositor="0x" + "cd" * 20))
    with pytest.raises(BenchmarkError, match="outside the generated range"):
        verify_indexed_deposits(url, replace(GENERATION, last_block=11))

    _tamper(url, delete(table).where(table.c.deposit_id == 5))
    with pytest.raises(BenchmarkError, match="4 Deposited rows for 5 generated"):
        verify_indexed_deposits(url, GENERATION)


# --- the API benchmark ---------------------------------------------------------------------------------
API_BENCHMARK = PROJECT_ROOT / "benchmarks" / "api.py"
API_CHECK_TIMEOUT_SECONDS = 120


@pytest.mark.timeout(API_CHECK_TIMEOUT_SECONDS + 10)
def test_api_benchmark_check_serves_the_same_bytes_from_both_servers(redis_url: str) -> None:
    """`benchmarks/api.py --check`: both real uvicorn servers start, and every answer is a 200 with
    the same bytes, the API's from its warm cache (so the benchmark compares what it claims to)."""
    done = subprocess.run(
        [sys.executable, str(API_BENCHMARK), "--check", "--redis-url", redis_url],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=API_CHECK_TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "check passed: 160 answers verified (200, X-Cache HIT" in done.stdout, done.stdout
    assert "40 token maps" in done.stdout


def test_api_benchmark_check_rejects_a_miss_an_error_or_other_bytes() -> None:
    import httpx

    from benchmarks.api import BenchmarkError as ApiBenchmarkError
    from benchmarks.api import check_response

    body = b'{"items":[]}'
    hit = httpx.Response(200, content=body, headers={"X-Cache": "HIT"})
    check_response(hit, body, cached=True)
    check_response(httpx.Response(200, content=body), body, cached=False)
    with pytest.raises(ApiBenchmarkError, match="cache HIT"):
        check_response(httpx.Response(200, content=body, headers={"X-Cache": "MISS"}), body, cached=True)
    with pytest.raises(ApiBenchmarkError, match="status 429"):
        check_response(httpx.Response(429, content=b"{}", headers={"X-Cache": "HIT"}), body, cached=True)
    with pytest.raises(ApiBenchmarkError, match="body differs"):
        check_response(httpx.Response(200, content=b'{"items":[1]}', headers={"X-Cache": "HIT"}), body, cached=True)


# --- the withdrawals benchmark -------------------------------------------------------------------------
WITHDRAWALS_BENCHMARK = PROJECT_ROOT / "benchmarks" / "withdrawals.py"
WITHDRAWALS_QUICK_TIMEOUT_SECONDS = 240


@pytest.mark.timeout(WITHDRAWALS_QUICK_TIMEOUT_SECONDS + 10)
def test_withdrawals_benchmark_quick_groups_submits_and_uses_the_index() -> None:
    """`benchmarks/withdrawals.py --quick`: every withdrawal is grouped exactly once, both devnet groups
    are proven and mined as `submitted`, the collector's SELECT goes through the (status, created_at)
    index, the table is printed, and the four databases it created are gone afterwards."""
    from sqlalchemy import create_engine, text

    from intmax_core.warehouse.engine import normalize_url

    postgres = os.environ.get("INTMAX_TEST_POSTGRES_URL")
    if not postgres:
        pytest.fail("INTMAX_TEST_POSTGRES_URL is not set: run the suite with scripts/test.sh, which starts PostgreSQL")
    done = subprocess.run(
        [sys.executable, str(WITHDRAWALS_BENCHMARK), "--quick", "--postgres-url", postgres],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=WITHDRAWALS_QUICK_TIMEOUT_SECONDS,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert out.count("grouped 200 withdrawals into 4 groups") == 2, out
    assert "submitted 2 groups; overhead p50" in out, out
    assert "uses ix_withdrawals_status_created_at: yes" in out, out
    assert "| Measurement | Result | Target |" in out and "`read_backlog` (the sensor's read), 20,000 rows" in out, out

    dropped = [line.split()[-1] for line in out.splitlines() if line.strip().startswith("dropped database ")]
    assert len(dropped) == 4, out
    admin = create_engine(normalize_url(postgres))
    with admin.connect() as connection:
        left = connection.execute(
            text("SELECT datname FROM pg_database WHERE datname = ANY(:names)"), {"names": dropped}
        )
        assert left.all() == []
    admin.dispose()
