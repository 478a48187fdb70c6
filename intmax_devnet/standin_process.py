"""Starting a devnet stand-in (CoinGecko, Scroll bridge API, prover gateway) as its own process.

Each stand-in is `python -m intmax_devnet.<module>` in a new session (its own process group, so
`stop_process_group` stops it and anything it started), logging to a file, and is ready once an
HTTP probe answers 200. A stand-in that exits or never answers is stopped and reported.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from intmax_devnet.anvil import stop_process_group

READY_TIMEOUT_SECONDS = 30.0


@dataclass
class StandInProcess:
    """A running stand-in: its loopback port (the base URL) and process group."""

    port: int
    pid: int
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process_group(self.pid)


def start_standin_process(
    name: str,
    module: str,
    args: list[str],
    probe_url: str,
    *,
    log_path: Path | None,
    headers: dict[str, str] | None = None,
) -> int:
    """Start `python -m module args...`, wait until `probe_url` answers 200; return its pid (= process group)."""
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    if log_path:
        log.close()
    try:
        _wait_ready(name, probe_url, proc, headers or {})
    except Exception:
        stop_process_group(proc.pid)
        raise
    return proc.pid


def _wait_ready(name: str, url: str, proc: subprocess.Popen, headers: dict[str, str]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the {name} stand-in exited with status {proc.returncode} before it was ready")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, headers=headers, timeout=1).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"the {name} stand-in at {url} was not ready within {READY_TIMEOUT_SECONDS:.0f} s")
