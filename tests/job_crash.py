"""Run a project job in its own process and SIGKILL it right after its first broadcast.

The chain's automine is off while the job runs, so the broadcast transaction waits in the mempool
and the process dies before it can see a receipt; the caller mines afterwards. What the next run
does with the ledger row left `sent` is what the crash tests check.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from web3 import Web3

from intmax_core.config import Settings
from intmax_core.warehouse.engine import make_engine
from intmax_core.warehouse.ledger import transaction_attempts
from tests.conftest import PROJECT_ROOT

BROADCAST_TIMEOUT_SECONDS = 120.0


def kill_after_first_broadcast(
    settings: Settings,
    tmp_path: Path,
    w3: Web3,
    job: str,
    run_config: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> None:
    """Run `job` of the project's `defs` (settings from INTMAX_DATA_DIR and INTMAX_DATABASE_URL) in a
    process; once one of its ledger attempts is in `w3`'s mempool, SIGKILL it and mine a block."""
    environment = {
        **os.environ,
        "INTMAX_DATA_DIR": str(settings.data_dir),
        "INTMAX_DATABASE_URL": settings.warehouse_url,
        "DAGSTER_HOME": str(tmp_path),
        **(env or {}),
    }
    code = (
        "from intmax_assets.definitions import defs\n"
        f"defs.get_job_def({job!r}).execute_in_process(run_config={run_config!r})\n"
    )
    engine = make_engine(settings.warehouse_url)
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        worker = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=PROJECT_ROOT,
            env=environment,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + BROADCAST_TIMEOUT_SECONDS
        while not _broadcast(engine, w3):
            if worker.poll() is not None:
                raise AssertionError(f"the {job} process ended before broadcasting: {worker.communicate()[1][-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the {job} process did not broadcast in time")
            time.sleep(0.2)
        worker.send_signal(signal.SIGKILL)
        worker.communicate(timeout=30)
        assert worker.returncode == -signal.SIGKILL
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]  # mined after the process died
    finally:
        w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
        engine.dispose()


def _broadcast(engine, w3: Web3) -> bool:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        hashes = connection.execute(select(transaction_attempts.c.tx_hash)).scalars().all()
    return any(w3.provider.make_request("eth_getTransactionByHash", [h]).get("result") for h in hashes)  # type: ignore[arg-type]
