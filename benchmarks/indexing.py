"""Indexing throughput on a fresh devnet: raw eth_getLogs, our indexer, web3.py and ethereum-etl.

    python benchmarks/indexing.py [--events 100000] [--postgres-url postgresql://postgres@host:port/postgres]
    python benchmarks/indexing.py --quick            # a smoke run with 5,000 events
    python benchmarks/indexing.py --check --events 1000 [--postgres-url URL]   # correctness only

It starts a throwaway devnet (two anvil chains, every contract deployed), makes N `Deposited` events
on L1 with the benchmark-only BulkDepositor contract (automine off: several transactions per block,
then `evm_mine`), and times, over the same block range and the same eth_getLogs chunks:

  (a) raw `eth_getLogs`: the HTTP requests and JSON parsing only, no decoding (the node's limit);
  (b) `StreamIndexer.index` end to end into a fresh, migrated SQLite warehouse, and PostgreSQL when
      a server is given. Every run is a subprocess so that its peak RSS can be read; it runs at about
      N/4 and N events to show whether memory grows with N, and reports where its time went;
  (c) web3.py `contract.events.Deposited().get_logs(...)` (web3's decode path);
  (d) ethereum-etl's `export_token_transfers` job filtering `Deposited` instead of ERC-20 `Transfer`
      (same job, executor, log mapper and CSV exporter; a Deposited extractor in the style of its
      transfer extractor), installed into a throwaway venv outside the project. Skipped, with the
      reason, when it cannot be installed or run.

Then it prints events/s, the ratios b/a, b/c and b/d, the peak RSS of (b), the machine, and a
Markdown block for the README's performance section. `--postgres-url` (default: the environment
variable INTMAX_BENCH_POSTGRES_URL) is a server URL: the benchmark creates and drops its own databases.

`--check` measures nothing: it generates the events the same way, runs (b) once per backend the same
way (the worker subprocess), and compares every indexed `Deposited` row with the deposit that was
generated (ids 1..N, sender, recipient salt hash, token, amount, eligibility, timestamp, block range).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

# Only what the indexer subprocess needs is imported here, so that its RSS is the indexer's own;
# web3 and the devnet helpers (another ~20 MB) are imported where the parent process uses them.
from intmax_core.chain.events import DEPOSITED
from intmax_core.chain.log_fetcher import LogFetcher
from intmax_core.chain.rpc import RpcClient
from intmax_core.config import load_settings
from intmax_core.indexing.indexer import StreamIndexer
from intmax_core.indexing.streams import STREAMS_BY_NAME, stream_source
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import make_engine, normalize_url, redacted
from intmax_core.warehouse.event_tables import EVENT_TABLES

if TYPE_CHECKING:
    from web3 import Web3

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STREAM = STREAMS_BY_NAME["l1_liquidity"]
DEFAULT_EVENTS = 100_000
QUICK_EVENTS = 5_000
POSTGRES_URL_VARIABLE = "INTMAX_BENCH_POSTGRES_URL"

# --- event generation ------------------------------------------------------------------------------
# One Liquidity deposit through BulkDepositor costs ~79.4k gas (a new deposit-hash slot, two new
# queue slots, the log). 200 deposits per transaction (~16M gas) and two transactions per block make
# 400 events per block: 100,000 events in 250 blocks, well short of where anvil slows down.
DEFAULT_DEPOSITS_PER_TX = 200
DEFAULT_TXS_PER_BLOCK = 2
GAS_PER_DEPOSIT = 85_000
GAS_PER_TX_BASE = 150_000
ANVIL_DEFAULT_BLOCK_GAS_LIMIT = 30_000_000
# EIP-1559 raises the base fee by up to 12.5 % after every block that uses more than half its gas
# limit; a few hundred full blocks would price the funded accounts out. Blocks get at least this
# multiple of the gas they need, so they stay below the target and the base fee does not climb.
BLOCK_GAS_HEADROOM = 2.2
WEI_PER_DEPOSIT = 1

# --- measurement -----------------------------------------------------------------------------------
# eth_getLogs chunks hold about this many logs: Infura's and Alchemy's result cap. anvil has no cap,
# so without one the indexer's default ranges (2,000 blocks and up) would fetch the whole dense test
# chain in one response, which no hosted provider would serve.
LOGS_PER_REQUEST = 10_000


def default_range_blocks(per_block: int) -> int:
    """Blocks per chunk so that a chunk holds just under LOGS_PER_REQUEST logs: a response of exactly
    the cap may be a truncated one, and the indexer would split it (the raw path would not)."""
    return max(1, (LOGS_PER_REQUEST - 1) // per_block)


DEFAULT_RAW_REPEATS = 3
HTTP_TIMEOUT_SECONDS = 300
# RSS counts as flat when the N run peaks at most this much above the N/4 run.
RSS_FLAT_TOLERANCE = 0.10
RSS_FLAT_SLACK_KIB = 8 * 1024

# --- ethereum-etl ----------------------------------------------------------------------------------
ETL_VERSION = "2.4.2"
# ethereum-etl 2.4.2 needs eth-abi 2.x, which pins parsimonious<0.9; parsimonious 0.8.1 imports
# inspect.getargspec, removed in Python 3.11. 0.9.0 (plus its dependency regex) works with eth-abi 2.2.
ETL_FIXUPS = ("parsimonious==0.9.0", "regex")
ETL_DEFAULT_WORKERS = 5  # ethereum-etl's own default (--max-workers)
ETL_INSTALL_TIMEOUT_SECONDS = 900
DEFAULT_ETL_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / (
    f"intmax-benchmarks/ethereum-etl-{ETL_VERSION}"
)
ETL_DRIVER = '''
"""Runs in the ethereum-etl venv: export_token_transfers' job, with Deposited instead of Transfer."""
import csv, json, sys, time

from blockchainetl.jobs.exporters.composite_item_exporter import CompositeItemExporter
from ethereumetl.jobs.export_token_transfers_job import ExportTokenTransfersJob
from ethereumetl.providers.auto import get_provider_from_uri
from ethereumetl.service.token_transfer_extractor import split_to_words, word_to_address
from ethereumetl.thread_local_proxy import ThreadLocalProxy
from ethereumetl.utils import hex_to_dec, to_normalized_address
from ethereumetl.web3_utils import build_web3

spec = json.loads(sys.argv[1])
TOPIC = spec["topic0"]
FIELDS = ["contract_address", "deposit_id", "sender", "recipient_salt_hash", "token_index", "amount",
          "is_eligible", "deposited_at", "transaction_hash", "log_index", "block_number"]


def extract_deposit(log):
    """Like EthTokenTransferExtractor.extract_transfer_from_log, for Deposited (3 topics + 4 words)."""
    topics = log.topics
    if not topics or topics[0].casefold() != TOPIC:
        return None
    words = topics + split_to_words(log.data)
    if len(words) != 8:
        return None
    return {"type": "deposit", "contract_address": to_normalized_address(log.address),
            "deposit_id": hex_to_dec(words[1]), "sender": word_to_address(words[2]),
            "recipient_salt_hash": words[3], "token_index": hex_to_dec(words[4]), "amount": hex_to_dec(words[5]),
            "is_eligible": hex_to_dec(words[6]) == 1, "deposited_at": hex_to_dec(words[7]),
            "transaction_hash": log.transaction_hash, "log_index": log.log_index, "block_number": log.block_number}


class ExportDepositsJob(ExportTokenTransfersJob):
    """ExportTokenTransfersJob._export_batch with the Deposited topic and extractor."""

    def _export_batch(self, block_number_batch):
        params = {"fromBlock": block_number_batch[0], "toBlock": block_number_batch[-1], "topics": [TOPIC],
                  "address": self.tokens}
        event_filter = self.web3.eth.filter(params)
        for event in event_filter.get_all_entries():
            item = extract_deposit(self.receipt_log_mapper.web3_dict_to_receipt_log(event))
            if item is not None:
                self.item_exporter.export_item(item)
        self.web3.eth.uninstallFilter(event_filter.filter_id)


job = ExportDepositsJob(
    start_block=spec["from_block"], end_block=spec["to_block"], batch_size=spec["batch_size"],
    web3=ThreadLocalProxy(lambda: build_web3(get_provider_from_uri(spec["rpc_url"]))),
    item_exporter=CompositeItemExporter({"deposit": spec["output"]}, {"deposit": FIELDS}),
    max_workers=spec["workers"], tokens=[spec["address"]])
started = time.perf_counter()
job.run()
seconds = time.perf_counter() - started
with open(spec["output"], newline="") as exported:
    rows = sum(1 for _ in csv.DictReader(exported))
print(json.dumps({"events": rows, "seconds": seconds}))
'''


class BenchmarkError(RuntimeError):
    pass


# --- small helpers ---------------------------------------------------------------------------------
class JsonRpc:
    """Bare JSON-RPC over one keep-alive HTTP connection (generation and the raw-fetch baseline)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(timeout=HTTP_TIMEOUT_SECONDS)

    def call(self, method: str, params: list[Any] | None = None) -> Any:
        body = self.http.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
        reply = body.json()
        if reply.get("error"):
            raise BenchmarkError(f"{method}: {reply['error']}")
        return reply["result"]

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        replies = sorted(self.http.post(self.url, json=payload).json(), key=lambda reply: reply["id"])
        errors = [reply["error"] for reply in replies if reply.get("error")]
        if errors:
            raise BenchmarkError(f"{calls[0][0]}: {errors[0]}")
        return [reply["result"] for reply in replies]

    def close(self) -> None:
        self.http.close()


def block_ranges(from_block: int, to_block: int, size: int) -> list[tuple[int, int]]:
    return [(start, min(start + size - 1, to_block)) for start in range(from_block, to_block + 1, size)]


def proc_status_kib(field_name: str) -> int:
    """A memory figure of this process from /proc/self/status (VmHWM, VmRSS), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise BenchmarkError(f"no {field_name} in /proc/self/status")


def mib(kib: float) -> str:
    return f"{kib / 1024:.0f} MiB"


def rate(events: int, seconds: float) -> float:
    return events / seconds if seconds > 0 else math.inf


def machine_description() -> dict[str, str]:
    from intmax_devnet.anvil import anvil_binary

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        anvil_lines = subprocess.run(
            [str(anvil_binary()), "--version"], capture_output=True, text=True, check=True, timeout=30
        ).stdout.splitlines()
        anvil = anvil_lines[0].removeprefix("anvil Version: ").strip()
        commit = next((line.split(":", 1)[1].strip()[:7] for line in anvil_lines if "Commit" in line), "")
        anvil += f" ({commit})" if commit else ""
    except (OSError, subprocess.SubprocessError, IndexError) as error:
        anvil = f"unknown ({type(error).__name__})"
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu,
        "python": platform.python_version(),
        "anvil": anvil,
        "os": f"{platform.system()} {platform.release()}",
    }


# --- (0) generation --------------------------------------------------------------------------------
@dataclass
class Generation:
    events: int
    first_block: int  # first block with a BulkDepositor deposit
    last_block: int
    transactions: int
    seconds: float
    depositor: str = ""  # the BulkDepositor contract: the `sender` of every generated deposit
    deposits_per_tx: int = 0

    @property
    def blocks(self) -> int:
        return self.last_block - self.first_block + 1


def generate_deposits(
    rpc: JsonRpc, w3: Web3, liquidity: str, events: int, per_tx: int, txs_per_block: int
) -> Generation:
    """Make `events` Deposited events: `txs_per_block` BulkDepositor transactions per mined block."""
    from web3 import Web3

    from intmax_devnet import accounts
    from intmax_devnet.deployer import contract_at, deploy_contract

    sender = accounts.role("deployer").address
    depositor, _ = deploy_contract(w3, "BulkDepositor", [], sender)
    contract = contract_at(w3, "BulkDepositor", depositor)
    tx_gas = GAS_PER_TX_BASE + GAS_PER_DEPOSIT * per_tx
    rpc.call(
        "evm_setBlockGasLimit",
        [hex(max(ANVIL_DEFAULT_BLOCK_GAS_LIMIT, int(tx_gas * txs_per_block * BLOCK_GAS_HEADROOM)))],
    )
    first_block = int(rpc.call("eth_blockNumber"), 16) + 1
    made = transactions = seed = 0
    started = time.perf_counter()
    rpc.call("evm_setAutomine", [False])
    try:
        while made < events:
            calls, counts = [], []
            for _ in range(txs_per_block):
                count = min(per_tx, events - made)
                if count <= 0:
                    break
                seed += 1
                data = contract.encode_abi("depositMany", args=[Web3.to_checksum_address(liquidity), count, seed])
                tx = {"from": sender, "to": depositor, "data": data, "value": hex(count * WEI_PER_DEPOSIT)}
                calls.append(("eth_sendTransaction", [tx | {"gas": hex(GAS_PER_TX_BASE + GAS_PER_DEPOSIT * count)}]))
                counts.append(count)
                made += count
            hashes = rpc.batch(calls)
            rpc.call("evm_mine")
            receipts = rpc.batch([("eth_getTransactionReceipt", [tx_hash]) for tx_hash in hashes])
            for receipt, count in zip(receipts, counts, strict=True):
                if receipt is None or receipt["status"] != "0x1" or len(receipt["logs"]) != count:
                    raise BenchmarkError(
                        f"a depositMany transaction failed or was not mined after {made - sum(counts):,} events: "
                        + (f"status {receipt['status']}, {len(receipt['logs'])} logs" if receipt else "no receipt")
                    )
            transactions += len(hashes)
    finally:
        rpc.call("evm_setAutomine", [True])
    seconds = time.perf_counter() - started
    last_block = int(rpc.call("eth_blockNumber"), 16)
    return Generation(made, first_block, last_block, transactions, seconds, depositor.lower(), per_tx)


@dataclass(frozen=True)
class ExpectedDeposit:
    deposit_id: int
    sender: str
    recipient_salt_hash: str
    token_index: int
    amount: int
    is_eligible: bool


def expected_deposits(generation: Generation) -> list[ExpectedDeposit]:
    """The deposits `generate_deposits` made, in id order. On a fresh devnet Liquidity numbers them
    from 1; transaction t (seed t + 1) made deposits i = 0.. with recipientSaltHash
    keccak256(abi.encode(seed, i)) (BulkDepositor.depositMany), WEI_PER_DEPOSIT wei of ETH each."""
    expected = []
    for index in range(generation.events):
        seed, i = index // generation.deposits_per_tx + 1, index % generation.deposits_per_tx
        salt = "0x" + keccak(abi_encode(["uint256", "uint256"], [seed, i])).hex()
        expected.append(ExpectedDeposit(index + 1, generation.depositor, salt, 0, WEI_PER_DEPOSIT, True))
    return expected


def verify_indexed_deposits(database_url: str, generation: Generation) -> None:
    """Raise BenchmarkError unless the warehouse's Deposited rows are exactly the generated deposits."""
    table = EVENT_TABLES[DEPOSITED.name]
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(table).order_by(table.c.deposit_id)).all()
    finally:
        engine.dispose()
    expected = expected_deposits(generation)
    if len(rows) != len(expected):
        raise BenchmarkError(f"{len(rows):,} Deposited rows for {len(expected):,} generated deposits")
    for row, want in zip(rows, expected, strict=True):
        got = ExpectedDeposit(
            row.deposit_id, row.sender, row.recipient_salt_hash, row.token_index, row.amount, row.is_eligible
        )
        if got != want:
            raise BenchmarkError(f"deposit {want.deposit_id}: indexed {got}, generated {want}")
        if not generation.first_block <= row.block_number <= generation.last_block:
            raise BenchmarkError(f"deposit {want.deposit_id}: block {row.block_number} is outside the generated range")
        block_time = row.block_time if row.block_time.tzinfo else row.block_time.replace(tzinfo=UTC)
        if row.deposited_at != int(block_time.timestamp()):
            raise BenchmarkError(f"deposit {want.deposit_id}: depositedAt {row.deposited_at} is not its block's time")


# --- (a) raw eth_getLogs ---------------------------------------------------------------------------
@dataclass
class Measurement:
    events: int
    seconds: float
    note: str = ""

    @property
    def rate(self) -> float:
        return rate(self.events, self.seconds)


def measure_raw_get_logs(rpc_url: str, address: str, ranges: list[tuple[int, int]], repeats: int) -> Measurement:
    """The requests the indexer makes (same filter, same chunks), parsed from JSON and nothing else."""
    topics0 = list(dict.fromkeys(topic.lower() for topic in STREAM.topics0))

    def one_pass(http: httpx.Client) -> tuple[int, float]:
        count = 0
        started = time.perf_counter()
        for start, end in ranges:
            log_filter = {"address": [address], "fromBlock": hex(start), "toBlock": hex(end), "topics": [topics0]}
            reply = http.post(
                rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [log_filter]}
            )
            count += len(reply.json()["result"])
        return count, time.perf_counter() - started

    with httpx.Client(timeout=HTTP_TIMEOUT_SECONDS) as http:
        one_pass(http)  # warm-up: the first pass over a range is slower on anvil
        runs = [one_pass(http) for _ in range(repeats)]
    counts = {count for count, _ in runs}
    if len(counts) != 1:
        raise BenchmarkError(f"raw eth_getLogs returned different counts per pass: {sorted(counts)}")
    note = f"median of {repeats} passes after a warm-up" if repeats > 1 else "one pass after a warm-up"
    return Measurement(counts.pop(), statistics.median(seconds for _, seconds in runs), note)


# --- (b) our indexer, one subprocess per run -------------------------------------------------------
@dataclass
class IndexerRun:
    backend: str
    events: int
    seconds: float
    peak_rss_kib: int  # ru_maxrss of the subprocess (wait4)
    baseline_rss_kib: int  # VmHWM after imports and setup, before index()
    breakdown: dict[str, float] = field(default_factory=dict)
    requests: int = 0
    chunks: int = 0

    @property
    def rate(self) -> float:
        return rate(self.events, self.seconds)


def run_indexer_subprocess(spec: dict[str, Any]) -> IndexerRun:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT)
    assert proc.stdout is not None
    output = proc.stdout.read()
    proc.stdout.close()
    # wait4 rather than Popen.wait: it returns this child's own rusage (ru_maxrss in KiB on Linux).
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise BenchmarkError(f"indexer run ({spec['backend']}) exited with {proc.returncode}")
    result = json.loads(output.strip().splitlines()[-1])
    return IndexerRun(
        backend=spec["backend"],
        events=result["events"],
        seconds=result["seconds"],
        peak_rss_kib=usage.ru_maxrss,
        baseline_rss_kib=result["baseline_hwm_kib"],
        breakdown=result["breakdown"],
        requests=result["requests"],
        chunks=result["chunks"],
    )


def _timed(timers: Counter[str], name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            timers[name] += time.perf_counter() - started

    return wrapper


class _TimedEngine:
    """The indexer's engine, with the time spent inside `engine.begin()` blocks (the DB writes) counted."""

    def __init__(self, engine: Any, timers: Counter[str]) -> None:
        self._engine = engine
        self._timers = timers

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    @contextmanager
    def begin(self) -> Iterator[Any]:
        started = time.perf_counter()
        try:
            with self._engine.begin() as connection:
                yield connection
        finally:
            self._timers["db"] += time.perf_counter() - started


def indexer_worker(spec: dict[str, Any]) -> None:
    """(b) in a fresh process: index [from_block, to_block] and print one JSON line of results.

    Phases are timed per chunk (not per log) by wrapping the fetcher's request, the chunk
    preparation, the chunk writer and the engine's write transaction: fetch = eth_getLogs requests
    incl. JSON parsing and decode = headers + decoding into rows, both in the fetch threads; db =
    the delete/insert/coverage transaction and waiting = the writer idle until the next chunk is
    ready, both in the writing thread. Fetch threads run alongside the writer, so the parts add up
    to more than the wall time."""
    settings = load_settings(data_dir=Path(spec["data_dir"]), database_url=spec["database_url"])
    source = stream_source(settings, STREAM)
    if source.address != spec["liquidity"]:
        raise BenchmarkError("the settings do not point at the benchmark devnet (are INTMAX_* variables set?)")
    engine = make_engine(settings.warehouse_url)
    timers: Counter[str] = Counter()
    with RpcClient(settings.l1_rpc_urls, name="l1") as client:
        indexer = StreamIndexer(
            engine,
            client,
            client.chain_id(),
            source,
            initial_range=spec["range_blocks"],
            max_range=spec["range_blocks"],
        )
        indexer.engine = _TimedEngine(engine, timers)  # type: ignore[assignment]
        LogFetcher._get_logs = _timed(timers, "fetch", LogFetcher._get_logs)  # type: ignore[method-assign]
        indexer._prepare_chunk = _timed(timers, "decode", indexer._prepare_chunk)  # type: ignore[method-assign]
        indexer._write_chunk = _timed(timers, "write_chunk", indexer._write_chunk)  # type: ignore[method-assign]
        baseline = proc_status_kib("VmHWM")
        started = time.perf_counter()
        stats = indexer.index(spec["from_block"], spec["to_block"])
        seconds = time.perf_counter() - started
    table = EVENT_TABLES[DEPOSITED.name]
    with engine.connect() as connection:
        rows = connection.execute(select(func.count()).select_from(table)).scalar_one()
    engine.dispose()
    events = stats.events[DEPOSITED.name]
    if rows != events:
        raise BenchmarkError(f"the indexer reported {events} Deposited events but wrote {rows} rows")
    breakdown = {
        "fetch": timers["fetch"],
        "decode": timers["decode"],
        "db": timers["db"],
        "waiting": seconds - timers["write_chunk"],
    }
    fetch = stats.fetch
    result = {
        "events": events,
        "seconds": seconds,
        "baseline_hwm_kib": baseline,
        "peak_hwm_kib": proc_status_kib("VmHWM"),
        "breakdown": breakdown,
        "requests": fetch.requests if fetch else 0,
        "chunks": stats.chunks,
    }
    print(json.dumps(result), flush=True)


@dataclass
class Warehouse:
    """A fresh, migrated warehouse database for one run; `drop` removes a PostgreSQL database again."""

    backend: str
    url: str
    admin_url: str | None = None

    def drop(self) -> None:
        if self.admin_url is None:
            return
        admin = create_engine(normalize_url(self.admin_url), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(self.url).database}" WITH (FORCE)'))
        finally:
            admin.dispose()


def new_warehouse(backend: str, work_dir: Path, postgres_url: str | None) -> Warehouse:
    name = f"intmax_bench_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        warehouse = Warehouse("SQLite", f"sqlite:///{work_dir / (name + '.db')}")
    else:
        assert postgres_url is not None
        admin = create_engine(normalize_url(postgres_url), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        warehouse = Warehouse("PostgreSQL", url, admin_url=postgres_url)
    try:
        migrate.upgrade(warehouse.url)
    except Exception:
        warehouse.drop()
        raise
    return warehouse


def postgres_version(url: str) -> str:
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as connection:
            return str(connection.execute(text("SHOW server_version")).scalar_one()).split()[0]
    finally:
        engine.dispose()


# --- (c) web3.py -----------------------------------------------------------------------------------
def measure_web3_get_logs(rpc_url: str, liquidity: str, ranges: list[tuple[int, int]]) -> Measurement:
    from web3 import HTTPProvider, Web3

    from intmax_devnet.deployer import contract_abi

    w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": HTTP_TIMEOUT_SECONDS}))
    contract = w3.eth.contract(address=Web3.to_checksum_address(liquidity), abi=contract_abi("Liquidity"))
    event = contract.events.Deposited()
    count = 0
    started = time.perf_counter()
    for start, end in ranges:
        count += len(event.get_logs(from_block=start, to_block=end))
    return Measurement(count, time.perf_counter() - started, f"web3 {_version('web3')}")


def _version(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)


# --- (d) ethereum-etl ------------------------------------------------------------------------------
class EtlUnavailable(Exception):
    pass


def _run_step(command: list[str], what: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=ETL_INSTALL_TIMEOUT_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise EtlUnavailable(f"{what}: {type(error).__name__}") from None
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        errors = [line for line in lines if "ERROR" in line or "Error" in line] or lines
        raise EtlUnavailable(f"{what} failed: {errors[-1].strip() if errors else f'exit {done.returncode}'}")


def ensure_etl_python(venv: Path) -> Path:
    """The python of a venv with ethereum-etl, created (from PyPI) on first use. Raises EtlUnavailable."""
    python = venv / "bin" / "python"
    marker = venv / ".intmax-bench-ready"
    if marker.exists() and python.exists():
        return python
    print(f"    installing ethereum-etl {ETL_VERSION} into {venv} (first run only) ...", flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    base = getattr(sys, "_base_executable", sys.executable)
    _run_step([base, "-m", "venv", str(venv)], "creating a venv")
    # Bounded retries: without network access pip would otherwise retry for minutes before failing.
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--retries", "2"]
    pip += ["--timeout", "30"]
    _run_step([*pip, f"ethereum-etl=={ETL_VERSION}"], f"pip install ethereum-etl=={ETL_VERSION}")
    _run_step([*pip, "--no-deps", *ETL_FIXUPS], "pip install " + " ".join(ETL_FIXUPS))
    _run_step([str(python), "-c", "import ethereumetl.cli"], "importing ethereumetl")
    marker.write_text(ETL_VERSION + "\n")
    return python


def measure_ethereum_etl(
    python: Path, rpc_url: str, liquidity: str, from_block: int, to_block: int, batch: int, workers: int, work_dir: Path
) -> Measurement:
    from web3 import Web3

    driver = work_dir / "etl_driver.py"
    driver.write_text(ETL_DRIVER)
    spec = {
        "rpc_url": rpc_url,
        "address": Web3.to_checksum_address(liquidity),
        "topic0": DEPOSITED.topic0,
        "from_block": from_block,
        "to_block": to_block,
        "batch_size": batch,
        "workers": workers,
        "output": str(work_dir / "etl_deposits.csv"),
    }
    try:
        done = subprocess.run(
            [str(python), str(driver), json.dumps(spec)], capture_output=True, text=True, timeout=1800, check=False
        )
    except subprocess.TimeoutExpired:
        raise EtlUnavailable("the export did not finish within 30 minutes") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise EtlUnavailable(f"the export failed: {lines[-1] if lines else f'exit {done.returncode}'}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    note = f"ethereum-etl {ETL_VERSION}, {workers} worker threads, eth_newFilter + eth_getFilterLogs"
    return Measurement(result["events"], result["seconds"], note)


# --- the run ---------------------------------------------------------------------------------------
@dataclass
class Results:
    machine: dict[str, str]
    generation: Generation
    range_blocks: int
    chunks: int
    raw: Measurement
    indexer: dict[str, list[IndexerRun]]  # backend -> [N/4 run, N run]
    web3: Measurement
    etl: Measurement | None
    etl_skip_reason: str | None
    postgres_skip_reason: str | None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Indexing throughput on a fresh devnet (see the module docstring).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--events", type=int, help=f"Deposited events to generate (default {DEFAULT_EVENTS:,})")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_EVENTS:,} events, one raw pass")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(POSTGRES_URL_VARIABLE),
        help=f"PostgreSQL server URL; the benchmark creates its own databases (default ${POSTGRES_URL_VARIABLE})",
    )
    parser.add_argument("--deposits-per-tx", type=int, default=DEFAULT_DEPOSITS_PER_TX)
    parser.add_argument("--txs-per-block", type=int, default=DEFAULT_TXS_PER_BLOCK)
    parser.add_argument(
        "--range-blocks",
        type=int,
        help=f"eth_getLogs chunk size in blocks for every path (default: about {LOGS_PER_REQUEST:,} logs per chunk)",
    )
    parser.add_argument(
        "--raw-repeats", type=int, help=f"timed passes of (a) (default {DEFAULT_RAW_REPEATS}, 1 with --quick)"
    )
    parser.add_argument(
        "--check", action="store_true", help="measure nothing: index once per backend and verify every row"
    )
    parser.add_argument("--no-etl", action="store_true", help="skip (d) ethereum-etl")
    parser.add_argument("--etl-venv", type=Path, default=DEFAULT_ETL_VENV, help="throwaway venv for ethereum-etl")
    parser.add_argument("--etl-workers", type=int, default=ETL_DEFAULT_WORKERS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.events is None:
        args.events = QUICK_EVENTS if args.quick else DEFAULT_EVENTS
    if args.raw_repeats is None:
        args.raw_repeats = 1 if args.quick else DEFAULT_RAW_REPEATS
    if args.events < 4 or args.deposits_per_tx < 1 or args.txs_per_block < 1 or args.raw_repeats < 1:
        parser.error("--events must be at least 4; --deposits-per-tx, --txs-per-block, --raw-repeats at least 1")
    if args.range_blocks is not None and args.range_blocks < 1:
        parser.error("--range-blocks must be at least 1")
    return args


@contextmanager
def generated_devnet(args: argparse.Namespace, prefix: str) -> Iterator[tuple[Path, Any, Generation]]:
    """A fresh devnet in a temporary directory with `args.events` Deposited events generated:
    (work dir with the manifest, the running devnet, the generation); stopped on exit."""
    from intmax_core.devnet_manifest import write_manifest
    from intmax_devnet.devnet import start_devnet, web3_for

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work_dir = Path(tmp)
        print("starting a fresh devnet ...", flush=True)
        devnet = start_devnet(work_dir / "devnet-logs")
        try:
            write_manifest(work_dir, devnet.manifest)
            rpc_url = devnet.manifest.l1.rpc_url
            rpc = JsonRpc(rpc_url)
            try:
                generation = generate_deposits(
                    rpc,
                    web3_for(rpc_url),
                    devnet.manifest.contracts["liquidity"].address,
                    args.events,
                    args.deposits_per_tx,
                    args.txs_per_block,
                )
            finally:
                rpc.close()
            yield work_dir, devnet, generation
        finally:
            devnet.stop()


def run(args: argparse.Namespace) -> Results:
    machine = machine_description()
    print("machine: " + ", ".join(f"{key} {value}" for key, value in machine.items()), flush=True)
    with generated_devnet(args, "intmax-bench-") as (work_dir, devnet, generation):
        warehouses: list[Warehouse] = []
        try:
            rpc_url = devnet.manifest.l1.rpc_url
            liquidity = devnet.manifest.contracts["liquidity"]
            per_block = args.deposits_per_tx * args.txs_per_block
            print(
                f"generated {generation.events:,} Deposited events in {generation.seconds:.1f} s "
                f"({rate(generation.events, generation.seconds):,.0f} events/s): {generation.transactions} "
                f"depositMany transactions, {generation.blocks} blocks ({generation.first_block}.."
                f"{generation.last_block}), {per_block} events per full block",
                flush=True,
            )
            from_block, to_block = liquidity.block_number, generation.last_block
            range_blocks = args.range_blocks or default_range_blocks(per_block)
            ranges = block_ranges(from_block, to_block, range_blocks)
            print(
                f"range: blocks {from_block}..{to_block} (from the Liquidity deployment), "
                f"{len(ranges)} eth_getLogs chunks of {range_blocks} blocks (~{range_blocks * per_block:,} logs)",
                flush=True,
            )

            print("(a) raw eth_getLogs ...", flush=True)
            raw = measure_raw_get_logs(rpc_url, liquidity.address, ranges, args.raw_repeats)
            if raw.events != generation.events:
                raise BenchmarkError(f"eth_getLogs found {raw.events} events, {generation.events} were made")
            print(f"    {raw.events:,} events in {raw.seconds:.2f} s = {raw.rate:,.0f} events/s", flush=True)

            backends = ["sqlite"]
            postgres_skip = None
            if args.postgres_url:
                backends.append("postgresql")
                machine["postgresql"] = postgres_version(args.postgres_url)
            else:
                postgres_skip = f"no --postgres-url given and ${POSTGRES_URL_VARIABLE} is unset"
                print(f"(b) PostgreSQL skipped: {postgres_skip}", flush=True)
            quarter_to = generation.first_block + math.ceil(generation.blocks / 4) - 1
            indexer_runs: dict[str, list[IndexerRun]] = {}
            for backend in backends:
                for to in (quarter_to, to_block):
                    warehouse = new_warehouse(backend, work_dir, args.postgres_url)
                    warehouses.append(warehouse)
                    label = "N/4" if to == quarter_to else "N"
                    print(f"(b) indexer -> {warehouse.backend}, {label} ...", flush=True)
                    spec = {
                        "backend": warehouse.backend,
                        "data_dir": str(work_dir),
                        "database_url": warehouse.url,
                        "liquidity": liquidity.address,
                        "from_block": from_block,
                        "to_block": to,
                        "range_blocks": range_blocks,
                    }
                    indexed = run_indexer_subprocess(spec)
                    indexer_runs.setdefault(warehouse.backend, []).append(indexed)
                    print(
                        f"    {indexed.events:,} events in {indexed.seconds:.2f} s = {indexed.rate:,.0f} events/s, "
                        f"peak RSS {mib(indexed.peak_rss_kib)} (before index(): {mib(indexed.baseline_rss_kib)})",
                        flush=True,
                    )
                    warehouse.drop()
            for backend, runs in indexer_runs.items():
                if runs[-1].events != generation.events:
                    raise BenchmarkError(f"the {backend} run indexed {runs[-1].events} of {generation.events} events")

            print("(c) web3.py contract.events.Deposited().get_logs ...", flush=True)
            web3_result = measure_web3_get_logs(rpc_url, liquidity.address, ranges)
            print(
                f"    {web3_result.events:,} events in {web3_result.seconds:.2f} s = {web3_result.rate:,.0f} events/s",
                flush=True,
            )

            etl: Measurement | None = None
            etl_skip = None
            if args.no_etl:
                etl_skip = "disabled by --no-etl"
            else:
                print("(d) ethereum-etl ...", flush=True)
                try:
                    python = ensure_etl_python(args.etl_venv)
                    etl = measure_ethereum_etl(
                        python,
                        rpc_url,
                        liquidity.address,
                        from_block,
                        to_block,
                        range_blocks,
                        args.etl_workers,
                        work_dir,
                    )
                    if etl.events != generation.events:
                        raise EtlUnavailable(f"it exported {etl.events} of {generation.events} events")
                    print(f"    {etl.events:,} events in {etl.seconds:.2f} s = {etl.rate:,.0f} events/s", flush=True)
                except EtlUnavailable as error:
                    etl_skip = str(error)
            if etl is None:
                print(f"(d) skipped: {etl_skip}", flush=True)
        finally:
            for warehouse in warehouses:
                try:
                    warehouse.drop()
                except Exception as error:  # cleanup must not hide the run's own error
                    print(f"could not drop {redacted(warehouse.url)}: {type(error).__name__}", file=sys.stderr)
    return Results(
        machine,
        generation,
        range_blocks,
        len(ranges),
        raw,
        indexer_runs,
        web3_result,
        etl,
        etl_skip,
        postgres_skip,
    )


def run_check(args: argparse.Namespace) -> None:
    """--check: generate, index with (b)'s worker into each backend, verify every row. Raises BenchmarkError."""
    with generated_devnet(args, "intmax-bench-check-") as (work_dir, devnet, generation):
        liquidity = devnet.manifest.contracts["liquidity"]
        range_blocks = args.range_blocks or default_range_blocks(args.deposits_per_tx * args.txs_per_block)
        for backend in ["sqlite", "postgresql"] if args.postgres_url else ["sqlite"]:
            warehouse = new_warehouse(backend, work_dir, args.postgres_url)
            try:
                spec = {
                    "backend": warehouse.backend,
                    "data_dir": str(work_dir),
                    "database_url": warehouse.url,
                    "liquidity": liquidity.address,
                    "from_block": liquidity.block_number,
                    "to_block": generation.last_block,
                    "range_blocks": range_blocks,
                }
                indexed = run_indexer_subprocess(spec)
                verify_indexed_deposits(warehouse.url, generation)
            finally:
                warehouse.drop()
            print(
                f"check passed ({warehouse.backend}): {indexed.events:,} Deposited rows are exactly the "
                f"{generation.events:,} generated deposits (ids 1..{generation.events}), "
                f"blocks {generation.first_block}..{generation.last_block} in {indexed.chunks} chunks",
                flush=True,
            )


def rss_verdict(runs: list[IndexerRun]) -> str:
    small, large = runs[0], runs[-1]
    grew = large.peak_rss_kib - small.peak_rss_kib
    flat = large.peak_rss_kib <= small.peak_rss_kib * (1 + RSS_FLAT_TOLERANCE) + RSS_FLAT_SLACK_KIB
    verdict = "flat" if flat else "GROWS with N"
    return (
        f"{mib(small.peak_rss_kib)} at {small.events:,} events, {mib(large.peak_rss_kib)} at {large.events:,} "
        f"({grew / 1024:+.0f} MiB): {verdict}"
    )


def report(results: Results) -> None:
    raw, web3_result, etl = results.raw, results.web3, results.etl
    print()
    print("== results ==")
    print(f"(a) raw eth_getLogs (requests + JSON, no decoding): {raw.rate:,.0f} events/s ({raw.note})")
    for backend, runs in results.indexer.items():
        full = runs[-1]
        print(f"(b) indexer -> {backend}: {full.rate:,.0f} events/s ({full.events:,} events in {full.seconds:.2f} s)")
    print(f"(c) web3.py get_logs: {web3_result.rate:,.0f} events/s ({web3_result.note})")
    if etl is not None:
        print(f"(d) ethereum-etl: {etl.rate:,.0f} events/s ({etl.note})")
    else:
        print(f"(d) skipped: {results.etl_skip_reason}")
    if results.postgres_skip_reason:
        print(f"(b) PostgreSQL skipped: {results.postgres_skip_reason}")
    print()
    print("ratios (events/s of (b) over the other path):")
    for backend, runs in results.indexer.items():
        full = runs[-1]
        print(f"b/a ({backend}): {full.rate / raw.rate:.2f}")
        print(f"b/c ({backend}): {full.rate / web3_result.rate:.1f}")
        if etl is not None:
            print(f"b/d ({backend}): {full.rate / etl.rate:.1f}")
        else:
            print(f"b/d ({backend}): n/a, (d) skipped: {results.etl_skip_reason}")
    print()
    print("peak RSS of (b) (one subprocess per run; ru_maxrss):")
    for backend, runs in results.indexer.items():
        print(f"  {backend}: {rss_verdict(runs)}")
    print()
    print("where (b)'s time went (N run; in the fetch threads: fetch = eth_getLogs incl. JSON, decode = headers +")
    print("decoding into rows; in the writer: db = the delete/insert/coverage transaction, waiting = idle until the")
    print("next chunk is ready; the threads overlap, so the parts add up to more than the wall time):")
    for backend, runs in results.indexer.items():
        full = runs[-1]
        parts = ", ".join(
            f"{name} {seconds:.2f} s ({seconds / full.seconds:.0%})" for name, seconds in full.breakdown.items()
        )
        print(f"  {backend}: {parts}; {full.requests} eth_getLogs requests, {full.chunks} chunks")
    print()
    print(markdown(results))


def markdown(results: Results) -> str:
    gen, raw, web3_result, etl = results.generation, results.raw, results.web3, results.etl
    machine = results.machine
    lines = [
        "<!-- benchmarks/indexing.py output: paste into the README's performance section -->",
        f"Indexing {gen.events:,} `Deposited` events ({gen.blocks} blocks, {results.chunks} `eth_getLogs` chunks "
        f"of {results.range_blocks} blocks) from a local anvil {machine['anvil']}; {machine['nproc']} CPUs "
        f"({machine['cpu']}), Python {machine['python']}"
        + (f", PostgreSQL {machine['postgresql']} on the same machine" if "postgresql" in machine else "")
        + f". Chunks hold ~{LOGS_PER_REQUEST:,} logs, the result cap of hosted providers. One run per path; "
        f"(a) is the {raw.note}.",
        "",
        "| Path | Events/s | Time (s) | Peak RSS (N/4 → N) | (b) SQLite is |",
        "|---|---:|---:|---:|---:|",
    ]
    sqlite_rate = results.indexer["SQLite"][-1].rate

    def row(name: str, events_per_s: float, seconds: float, rss: str = "-") -> str:
        return f"| {name} | {events_per_s:,.0f} | {seconds:.2f} | {rss} | {sqlite_rate / events_per_s:.2f}x |"

    lines.append(row("(a) raw `eth_getLogs`, JSON parsed, no decoding", raw.rate, raw.seconds))
    for backend, runs in results.indexer.items():
        rss = f"{runs[0].peak_rss_kib / 1024:.0f} → {runs[-1].peak_rss_kib / 1024:.0f} MiB"
        lines.append(row(f"(b) our indexer → {backend} (`StreamIndexer.index`)", runs[-1].rate, runs[-1].seconds, rss))
    lines.append(row("(c) web3.py `contract.events.Deposited().get_logs`", web3_result.rate, web3_result.seconds))
    if etl is not None:
        lines.append(row(f"(d) ethereum-etl {ETL_VERSION} `export_token_transfers` job", etl.rate, etl.seconds))
    else:
        lines.append(f"| (d) ethereum-etl | skipped: {results.etl_skip_reason} | | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        indexer_worker(json.loads(args.worker))
        return 0
    if args.check:
        run_check(args)
        return 0
    started = time.perf_counter()
    results = run(args)
    report(results)
    print(f"\nbenchmark finished in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
