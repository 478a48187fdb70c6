"""Start and stop anvil chains (from the npm package `@foundry-rs/anvil`) on loopback."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ANVIL_BINARY = PROJECT_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"

# anvil answers within ~0.1 s; the ceiling only matters on a loaded CI machine.
READY_TIMEOUT_SECONDS = 15.0
# Anvil's well-known development mnemonic: 10 funded, unlocked accounts. Devnet only.
DEVNET_MNEMONIC = "test test test test test test test test test test test junk"


class AnvilError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def anvil_binary() -> Path:
    if not ANVIL_BINARY.exists():
        raise AnvilError(f"anvil is not installed at {ANVIL_BINARY}: run `npm install` in {PROJECT_ROOT}")
    return ANVIL_BINARY


@dataclass
class AnvilChain:
    """One running anvil process, in its own process group so that stopping it stops everything."""

    chain_id: int
    port: int
    pid: int
    log_path: Path | None = None

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process_group(self.pid)


def start_anvil(
    chain_id: int,
    port: int | None = None,
    *,
    log_path: Path | None = None,
    block_time: float | None = None,
    extra_args: list[str] | None = None,
) -> AnvilChain:
    port = port or free_port()
    options = {
        "--host": "127.0.0.1",
        "--port": str(port),
        "--chain-id": str(chain_id),
        "--mnemonic": DEVNET_MNEMONIC,
        "--accounts": "10",
        "--balance": "1000000",
    }
    # anvil keeps the full state history by default, which evm_snapshot/evm_revert and reads at old
    # blocks need. Never pass --prune-history: with a value of 0 anvil 1.7.1 stops mining.
    args = [str(anvil_binary()), *(part for option in options.items() for part in option)]
    if block_time:
        args += ["--block-time", str(block_time)]
    args += extra_args or []
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    if log_path:
        log.close()
    chain = AnvilChain(chain_id=chain_id, port=port, pid=proc.pid, log_path=log_path)
    try:
        wait_ready(chain.rpc_url, proc)
    except Exception:
        chain.stop()
        raise
    return chain


def wait_ready(rpc_url: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AnvilError(f"anvil exited with status {proc.returncode} before it was ready")
        try:
            response = httpx.post(rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}, timeout=1)
            if response.status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AnvilError(f"anvil at {rpc_url} was not ready within {READY_TIMEOUT_SECONDS} s")


def process_group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


KILL_WAIT_SECONDS = 5.0


def stop_process_group(pgid: int, timeout: float = 10.0) -> None:
    """SIGTERM the group, then SIGKILL what is left after `timeout` seconds; reap our own children."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pgid)
        if not process_group_alive(pgid):
            return
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return
    # SIGKILL cannot be refused, but the process is only gone (and reapable) once the kernel ran it.
    deadline = time.monotonic() + KILL_WAIT_SECONDS
    while process_group_alive(pgid) and time.monotonic() < deadline:
        _reap(pgid)
        time.sleep(0.05)


def accept_termination_signals() -> None:
    """Let SIGTERM and SIGINT stop this process. A child inherits its parent's blocked-signal mask
    across fork and exec: a stand-in started from a thread that blocks them (as some libraries'
    threads do) would otherwise ignore `stop_process_group`'s SIGTERM until SIGKILL."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _reap(pid: int) -> None:
    # Only our own children can be reaped; for anything else there is nothing to do.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
