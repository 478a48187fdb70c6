"""Smoke run of the indexing benchmark: it completes and reports every ratio (no timing assertions)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BENCHMARK = PROJECT_ROOT / "benchmarks" / "indexing.py"
SMOKE_EVENTS = 2_000
SMOKE_TIMEOUT_SECONDS = 110


@pytest.mark.timeout(SMOKE_TIMEOUT_SECONDS + 10)
def test_indexing_benchmark_quick_run_reports_every_ratio() -> None:
    # Hermetic and fast: SQLite only (no benchmark PostgreSQL server), and no ethereum-etl venv to install.
    env = {key: value for key, value in os.environ.items() if key != "INTMAX_BENCH_POSTGRES_URL"}
    done = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", "--events", str(SMOKE_EVENTS), "--no-etl"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    for prefix in ("b/a (SQLite): ", "b/c (SQLite): ", "b/d (SQLite): "):
        assert any(line.startswith(prefix) for line in lines), f"no {prefix!r} line in:\n{done.stdout}"
    assert f"generated {SMOKE_EVENTS:,} Deposited events" in done.stdout
    assert "(d) skipped: disabled by --no-etl" in done.stdout
    assert "| (b) our indexer → SQLite" in done.stdout  # the Markdown block for the README
