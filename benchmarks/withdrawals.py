"""The withdrawal aggregator on PostgreSQL: grouping speed, pipeline overhead per group, collector query time.

    python benchmarks/withdrawals.py --postgres-url postgresql://postgres@host:port/postgres
    python benchmarks/withdrawals.py --quick          # a smoke run: 200 / 2 groups of 5 / 20,000 rows

`--postgres-url` (default: INTMAX_TEST_POSTGRES_URL) is a server URL: every part creates its own
fresh database in it and drops it at the end. Nothing is started for PostgreSQL.

  (1) grouping: N `requested` withdrawals, then `collect` (groups of 50, min batch 1, 20 groups per
      transaction) called until nothing is left: the time to group them all, groups/s. Twice: on
      fresh tables (no statistics for withdrawal_group_members yet, as right after a deployment)
      and with the members ANALYZEd between calls (as autovacuum keeps them; not timed);
  (2) pipeline overhead per group on a fresh devnet (its prover gateway stand-in answers at once):
      the simulator posts a Rollup block and writes valid single-withdrawal proofs; then, one group
      at a time, `collect` forms a group and `GroupProcessor.process` proves it (chain, wrapper,
      gnark) and submits it on L2 (the transaction sender waits for the receipt). Overhead = the
      time from the group's commit to its submission mined, minus the time spent inside the
      prover client's calls (a timing subclass of ProverClient, not a change to it);
  (3) collector query time over 1,000,000 `withdrawals` rows (COPY; most `success`, a few thousand
      `requested`, the oldest requested ones already claimed by live groups): `read_backlog` (the
      sensor's read), the candidate SELECT of `collect`, and a whole `collect` rolled back; p50 of
      20 runs after ANALYZE, and the EXPLAIN of the candidate SELECT.

It prints the machine, each part's numbers and a Markdown table for the README.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from intmax_core.warehouse import migrate
from intmax_core.warehouse.aggregator_tables import GroupStatus, withdrawal_group_members
from intmax_core.warehouse.engine import make_engine, normalize_url, redacted
from intmax_core.warehouse.schema import WithdrawalStatus, withdrawals
from intmax_core.withdrawals.collector import (
    DEFAULT_MAX_GROUPS,
    CollectorPolicy,
    _unclaimed_requested,  # the candidate SELECT of collect(), timed on its own
    collect,
    read_backlog,
)
from intmax_core.withdrawals.prover_client import ChainProof, GnarkProof, ProverClient

POSTGRES_URL_VARIABLE = "INTMAX_TEST_POSTGRES_URL"
GROUP_SIZE = 50
INDEX_NAME = "ix_withdrawals_status_created_at"
QUERY_TARGET_MS = 50.0
OVERHEAD_TARGET_SECONDS = 5.0
QUERY_REPEATS = 20
# Full run / --quick.
DEFAULTS = {
    "withdrawals": (10_000, 200),
    "groups": (20, 2),
    "pipeline_group_size": (GROUP_SIZE, 5),
    "rows": (1_000_000, 20_000),
    "requested_rows": (3_000, 300),
}
# The oldest requested rows of part (3) are already members of live groups (being proven), so the
# collector's NOT EXISTS has to skip them, as it does in production while groups are in flight.
CLAIMED_GROUPS = 20
COPY_BATCH_ROWS = 100_000
BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


class BenchmarkError(RuntimeError):
    pass


# --- helpers -------------------------------------------------------------------------------------
def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p95 of 20 values is the 19th), no interpolation."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


@contextmanager
def fresh_database(server_url: str, label: str) -> Iterator[str]:
    """A new empty, migrated database on the server; dropped afterwards whatever happens."""
    name = f"intmax_bench_{label}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalize_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            print(f"    dropped database {name}", flush=True)
        except Exception as error:  # cleanup must not hide the run's own error
            print(f"could not drop {redacted(url)}: {type(error).__name__}", file=sys.stderr)
        admin.dispose()


def withdrawal_row(i: int, status: WithdrawalStatus, created_at: datetime) -> dict[str, Any]:
    h = "0x" + f"{i:064x}"
    recipient = "0x" + f"{i % 1000:040x}"
    return {
        "withdrawal_hash": h,
        "status": status,
        "pubkey": "0x" + f"{i:064x}",
        "recipient": recipient,
        "contract_withdrawal": {"recipient": recipient, "tokenIndex": 0, "amount": "1", "nullifier": h},
        "single_withdrawal_proof": b"proof" if status == WithdrawalStatus.REQUESTED else None,
        "created_at": created_at,
    }


def postgres_version(url: str) -> str:
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as connection:
            return str(connection.execute(text("SHOW server_version")).scalar_one()).split()[0]
    finally:
        engine.dispose()


def machine_description(postgres_url: str) -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu,
        "python": platform.python_version(),
        "postgresql": postgres_version(postgres_url),
        "os": f"{platform.system()} {platform.release()}",
    }


# --- (1) grouping --------------------------------------------------------------------------------
@dataclass
class Grouping:
    withdrawals: int
    groups: int
    calls: int
    seconds: float  # in collect() only
    analyzed: bool  # withdrawal_group_members ANALYZEd before every call (not timed)

    @property
    def groups_per_second(self) -> float:
        return self.groups / self.seconds


def measure_grouping(server_url: str, count: int, *, analyze_between: bool) -> Grouping:
    """Group `count` fresh requests. Without `analyze_between` the planner has never seen statistics
    for withdrawal_group_members (a fresh warehouse before autovacuum's first pass): it guesses a
    handful of rows and plans the NOT EXISTS as a nested loop over all members, so every call costs
    in proportion to the members already there. With it, the statistics are as autovacuum keeps
    them in steady state (ANALYZE is not timed)."""
    policy = CollectorPolicy(
        min_batch_size=1, min_wait=timedelta(0), group_size=GROUP_SIZE, max_groups=DEFAULT_MAX_GROUPS
    )
    with fresh_database(server_url, "grouping_analyzed" if analyze_between else "grouping") as url:
        engine = make_engine(url)
        try:
            rows = [
                withdrawal_row(i, WithdrawalStatus.REQUESTED, BASE_TIME + timedelta(seconds=i)) for i in range(count)
            ]
            with engine.begin() as connection:
                for start in range(0, count, 5_000):
                    connection.execute(insert(withdrawals), rows[start : start + 5_000])
            with engine.begin() as connection:
                connection.execute(text("ANALYZE withdrawals"))
            groups = calls = 0
            seconds = 0.0
            while True:
                if analyze_between:
                    with engine.begin() as connection:
                        connection.execute(text("ANALYZE withdrawals, withdrawal_group_members"))
                started = time.perf_counter()
                with engine.begin() as connection:
                    formed = collect(connection, policy, datetime.now(UTC))
                seconds += time.perf_counter() - started
                calls += 1
                if not formed:
                    break
                groups += len(formed)
            with engine.connect() as connection:
                members = connection.execute(select(func.count()).select_from(withdrawal_group_members)).scalar_one()
        finally:
            engine.dispose()
    expected_groups = -(-count // GROUP_SIZE)
    if members != count or groups != expected_groups:
        raise BenchmarkError(
            f"grouped {members} of {count} withdrawals into {groups} groups (expected {expected_groups})"
        )
    return Grouping(count, groups, calls, seconds, analyze_between)


# --- (2) pipeline overhead -----------------------------------------------------------------------
class TimedProverClient(ProverClient):
    """ProverClient that adds up the wall time spent inside its three stages (start + polling)."""

    seconds: float = 0.0

    def chain_proof(self, proof_id: str, single_proof: bytes, previous: ChainProof | None) -> ChainProof:
        started = time.perf_counter()
        try:
            return super().chain_proof(proof_id, single_proof, previous)
        finally:
            self.seconds += time.perf_counter() - started

    def wrapper_proof(self, proof_id: str, aggregator: str, last_chain_proof: ChainProof) -> str:
        started = time.perf_counter()
        try:
            return super().wrapper_proof(proof_id, aggregator, last_chain_proof)
        finally:
            self.seconds += time.perf_counter() - started

    def gnark_proof(self, wrapper_proof: str, verifier_data: str) -> GnarkProof:
        started = time.perf_counter()
        try:
            return super().gnark_proof(wrapper_proof, verifier_data)
        finally:
            self.seconds += time.perf_counter() - started


@dataclass
class Pipeline:
    groups: int
    group_size: int
    overhead: list[float] = field(default_factory=list)  # grouped -> mined, minus prover time
    prover: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    setup_seconds: float = 0.0


def measure_pipeline(server_url: str, groups: int, group_size: int) -> Pipeline:
    # Imported here: web3, the devnet and the Dagster resources are needed by this part only.
    from intmax_assets.definitions import build_resources
    from intmax_assets.defs.withdrawals.processing import RECEIPT_TIMEOUT_SECONDS, WITHDRAWAL_ERRORS
    from intmax_core.chain.fees import RELAYER_STEP
    from intmax_core.chain.sender import SendPolicy, TransactionSender
    from intmax_core.chain.signers import SignerRole, signer_for_role
    from intmax_core.config import load_settings
    from intmax_core.devnet_manifest import write_manifest
    from intmax_core.withdrawals.processor import GroupProcessor
    from intmax_core.withdrawals.prover_client import ProverBudget
    from intmax_devnet.devnet import start_devnet
    from intmax_devnet.simulator import SimulationPlan, Simulator

    result = Pipeline(groups, group_size)
    policy = CollectorPolicy(min_batch_size=1, min_wait=timedelta(0), group_size=group_size, max_groups=1)
    with (
        tempfile.TemporaryDirectory(prefix="intmax-bench-withdrawals-") as work,
        fresh_database(server_url, "pipeline") as url,
    ):
        started = time.perf_counter()
        devnet = start_devnet(Path(work) / "logs")
        try:
            write_manifest(Path(work), devnet.manifest)
            settings = load_settings(data_dir=Path(work)).model_copy(update={"database_url": url})
            if not settings.zkp_prover_url or not settings.withdrawal_address:
                raise BenchmarkError("the devnet manifest gave no prover gateway or Withdrawal contract")
            # Withdrawals need deposits (they are paid from them) and a posted block (proven against it).
            plan = SimulationPlan(seed=7, users=3, deposits=3, withdrawals=groups * group_size, builders=1, blocks=1)
            Simulator(devnet.manifest, url, plan).run()
            result.setup_seconds = time.perf_counter() - started
            print(f"    devnet + {plan.withdrawals} simulated requests in {result.setup_seconds:.1f} s", flush=True)
            # As intmax_assets/defs/withdrawals/processing.py builds them.
            l2 = build_resources(settings)["l2"]
            budget = ProverBudget(
                poll_interval_seconds=settings.withdrawal_proof_poll_interval_seconds,
                stage_timeout_seconds=settings.withdrawal_proof_stage_timeout_seconds,
            )
            send_policy = SendPolicy(
                fee_mode="legacy",
                gas_multiplier_step=RELAYER_STEP,
                receipt_timeout_seconds=RECEIPT_TIMEOUT_SECONDS,
                max_fee_per_gas=l2.max_fee_per_gas_wei,  # type: ignore[attr-defined]
            )
            engine = make_engine(url)
            with l2.client() as client, TimedProverClient(settings.zkp_prover_url, budget) as prover:  # type: ignore[attr-defined]
                sender = TransactionSender(
                    client,
                    engine,
                    signer_for_role(settings, SignerRole.WITHDRAWAL_AGGREGATOR),
                    l2.verified_chain_id(client),  # type: ignore[attr-defined]
                    policy=send_policy,
                    errors=WITHDRAWAL_ERRORS,
                )
                processor = GroupProcessor(
                    engine,
                    prover,
                    sender,
                    withdrawal_contract=settings.withdrawal_address,
                    verifier_data=settings.gnark_verifier_data,
                )
                for _ in range(groups):
                    with engine.begin() as connection:
                        (group,) = collect(connection, policy, datetime.now(UTC))
                    grouped = time.perf_counter()  # the group is committed: "grouped"
                    prover.seconds = 0.0
                    outcome = processor.process(group.group_id)
                    total = time.perf_counter() - grouped
                    if outcome.status is not GroupStatus.SUBMITTED or len(outcome.submitted) != group_size:
                        raise BenchmarkError(
                            f"group {group.group_id}: {outcome.status.value} with {len(outcome.submitted)} "
                            f"submitted ({outcome.detail})"
                        )
                    result.total.append(total)
                    result.prover.append(prover.seconds)
                    result.overhead.append(total - prover.seconds)
            engine.dispose()
        finally:
            devnet.stop()
    return result


# --- (3) collector query time --------------------------------------------------------------------
@dataclass
class QueryTimes:
    rows: int
    requested: int
    claimed: int
    load_seconds: float
    backlog_ms: list[float]
    candidates_ms: list[float]
    collect_ms: list[float]
    plan: str
    uses_index: bool


def _copy(cursor: Any, table: str, columns: str, lines: Iterator[str]) -> None:
    buffer = io.StringIO()
    for count, line in enumerate(lines, 1):
        buffer.write(line)
        if count % COPY_BATCH_ROWS == 0:
            buffer.seek(0)
            cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", buffer)
            buffer = io.StringIO()
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", buffer)


def load_rows(engine: Engine, rows: int, requested: int, claimed: int) -> None:
    """`rows` withdrawals one second apart, the newest `requested` of them `requested` (the rest
    `success`, each a member of a submitted group of 50); the oldest `claimed` requested ones are
    members of live groups. COPY text format (no tabs or backslashes in any value)."""
    first_requested = rows - requested

    def withdrawal_lines() -> Iterator[str]:
        for i in range(rows):
            h = f"0x{i:064x}"
            recipient = f"0x{i % 1000:040x}"
            status = "requested" if i >= first_requested else "success"
            proof = "\\\\x70726f6f66" if i >= first_requested else "\\N"
            cw = json.dumps({"recipient": recipient, "tokenIndex": 0, "amount": "1", "nullifier": h})
            created = (BASE_TIME + timedelta(seconds=i)).isoformat()
            yield f"{h}\t{status}\t{h}\t{recipient}\t{cw}\t{proof}\t{created}\n"

    group_ids: list[tuple[str, str]] = []  # (group id, status) per 50 members, in member order

    def member_lines() -> Iterator[str]:
        members = list(range(first_requested)) + list(range(first_requested, first_requested + claimed))
        for n, i in enumerate(members):
            if n % GROUP_SIZE == 0:
                live = i >= first_requested
                group_ids.append(
                    (str(uuid.uuid4()), GroupStatus.PROVING.value if live else GroupStatus.SUBMITTED.value)
                )
            yield f"{group_ids[-1][0]}\t{n % GROUP_SIZE}\t0x{i:064x}\n"

    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        _copy(
            cursor,
            "withdrawals",
            "withdrawal_hash, status, pubkey, recipient, contract_withdrawal, single_withdrawal_proof, created_at",
            withdrawal_lines(),
        )
        _copy(cursor, "withdrawal_group_members", "group_id, position, withdrawal_hash", member_lines())
        counts: dict[str, int] = {}
        for n in range(first_requested + claimed):
            counts[group_ids[n // GROUP_SIZE][0]] = counts.get(group_ids[n // GROUP_SIZE][0], 0) + 1
        _copy(
            cursor,
            "withdrawal_groups",
            "group_id, status, attempt, member_count",
            (f"{gid}\t{status}\t1\t{counts[gid]}\n" for gid, status in group_ids),
        )
        raw.commit()
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def time_ms(run: Callable[[], object], repeats: int) -> list[float]:
    run()  # warm-up: plans and pages cached, as they are for a sensor that ticks every 30 s
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return times


def measure_queries(server_url: str, rows: int, requested: int) -> QueryTimes:
    policy = CollectorPolicy(
        min_batch_size=1, min_wait=timedelta(0), group_size=GROUP_SIZE, max_groups=DEFAULT_MAX_GROUPS
    )
    limit = policy.group_size * policy.max_groups  # what the sensor and collect() read
    claimed = min(requested // 2, CLAIMED_GROUPS * GROUP_SIZE)
    with fresh_database(server_url, "queries") as url:
        engine = make_engine(url)
        try:
            started = time.perf_counter()
            load_rows(engine, rows, requested, claimed)
            load_seconds = time.perf_counter() - started
            print(f"    loaded {rows:,} rows (+ group members) and ANALYZEd in {load_seconds:.1f} s", flush=True)
            candidates = _unclaimed_requested().limit(limit)
            with engine.connect() as connection:
                backlog = read_backlog(connection, limit)
                expected = min(limit, requested - claimed)
                first_free = f"0x{rows - requested + claimed:064x}"
                if backlog.waiting != expected or backlog.oldest_hash != first_free:
                    raise BenchmarkError(
                        f"read_backlog saw {backlog.waiting} waiting from {backlog.oldest_hash}; "
                        f"expected {expected} from {first_free}"
                    )
                backlog_ms = time_ms(lambda: read_backlog(connection, limit), QUERY_REPEATS)
                candidates_ms = time_ms(lambda: connection.execute(candidates).all(), QUERY_REPEATS)
                sql = str(candidates.compile(engine, compile_kwargs={"literal_binds": True}))
                plan = "\n".join(row[0] for row in connection.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + sql)).all())

            def collect_rolled_back() -> None:
                with engine.connect() as connection:
                    transaction = connection.begin()
                    try:
                        formed = collect(connection, policy, datetime.now(UTC))
                        if sum(len(g.withdrawal_hashes) for g in formed) != expected:
                            raise BenchmarkError("collect formed other groups than read_backlog saw")
                    finally:
                        transaction.rollback()

            collect_ms = time_ms(collect_rolled_back, QUERY_REPEATS)
        finally:
            engine.dispose()
    return QueryTimes(
        rows, requested, claimed, load_seconds, backlog_ms, candidates_ms, collect_ms, plan, INDEX_NAME in plan
    )


# --- report --------------------------------------------------------------------------------------
def markdown(machine: dict[str, str], groupings: list[Grouping], pipeline: Pipeline, queries: QueryTimes) -> str:
    p50 = statistics.median

    def ms(values: list[float]) -> str:
        return f"{p50(values):.1f} ms (p95 {percentile(values, 0.95):.1f})"

    ok_overhead = "met" if p50(pipeline.overhead) < OVERHEAD_TARGET_SECONDS else "NOT met"
    ok_query = (
        "met"
        if p50(queries.candidates_ms) < QUERY_TARGET_MS and p50(queries.backlog_ms) < QUERY_TARGET_MS
        else "NOT met"
    )
    lines = [
        "<!-- benchmarks/withdrawals.py output: paste into the README's performance section -->",
        f"PostgreSQL {machine['postgresql']} on the same machine; {machine['nproc']} CPUs ({machine['cpu']}), "
        f"Python {machine['python']}. Devnet: local anvil, the prover gateway stand-in answering at once.",
        "",
        "| Measurement | Result | Target |",
        "|---|---:|---:|",
    ]
    for grouping in groupings:
        stats = "members ANALYZEd between calls" if grouping.analyzed else "fresh tables, members never ANALYZEd"
        lines.append(
            f"| (1) group {grouping.withdrawals:,} requested withdrawals (`collect`, groups of {GROUP_SIZE}, "
            f"{DEFAULT_MAX_GROUPS} per transaction, {grouping.calls} calls; {stats}) | {grouping.seconds:.2f} s, "
            f"{grouping.groups_per_second:,.0f} groups/s | - |"
        )
    lines += [
        f"| (2) overhead per group, grouped → submission mined, minus prover time ({pipeline.groups} groups "
        f"of {pipeline.group_size}) | p50 {p50(pipeline.overhead):.2f} s, "
        f"p95 {percentile(pipeline.overhead, 0.95):.2f} s "
        f"| p50 < {OVERHEAD_TARGET_SECONDS:.0f} s: {ok_overhead} |",
        f"| (2) prover wait per group (stand-in; not in the overhead) | p50 {p50(pipeline.prover):.2f} s | - |",
        f"| (3) `read_backlog` (the sensor's read), {queries.rows:,} rows, {queries.requested:,} requested "
        f"({queries.claimed:,} in live groups) | {ms(queries.backlog_ms)} | < {QUERY_TARGET_MS:.0f} ms: {ok_query} |",
        f"| (3) `collect`'s candidate SELECT | {ms(queries.candidates_ms)} | < {QUERY_TARGET_MS:.0f} ms |",
        f"| (3) a whole `collect` (lock, SELECT, {DEFAULT_MAX_GROUPS} groups inserted; rolled back) "
        f"| {ms(queries.collect_ms)} | - |",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--postgres-url", default=os.environ.get(POSTGRES_URL_VARIABLE), help="a server URL")
    parser.add_argument("--quick", action="store_true", help="a smoke run with small numbers")
    for name, (full, quick) in DEFAULTS.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}", type=int, default=None, help=f"default {full:,} ({quick:,} quick)"
        )
    args = parser.parse_args(argv)
    if not args.postgres_url:
        parser.error(f"give --postgres-url or set {POSTGRES_URL_VARIABLE}: this benchmark starts no PostgreSQL")
    for name, (full, quick) in DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if args.requested_rows > args.rows or args.pipeline_group_size > 100:
        parser.error("--requested-rows must be <= --rows and --pipeline-group-size <= 100")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    machine = machine_description(args.postgres_url)
    print("machine: " + ", ".join(f"{key} {value}" for key, value in machine.items()), flush=True)

    groupings = []
    for analyze_between in (False, True):
        stats = "members ANALYZEd between calls" if analyze_between else "no statistics for the members yet"
        print(f"(1) grouping {args.withdrawals:,} requested withdrawals ({stats}) ...", flush=True)
        grouping = measure_grouping(args.postgres_url, args.withdrawals, analyze_between=analyze_between)
        groupings.append(grouping)
        print(
            f"    grouped {grouping.withdrawals:,} withdrawals into {grouping.groups:,} groups in "
            f"{grouping.seconds:.2f} s ({grouping.groups_per_second:,.0f} groups/s, {grouping.calls} collect calls)",
            flush=True,
        )

    print(f"(2) pipeline: {args.groups} groups of {args.pipeline_group_size} on a fresh devnet ...", flush=True)
    pipeline = measure_pipeline(args.postgres_url, args.groups, args.pipeline_group_size)
    for n, (total, prover) in enumerate(zip(pipeline.total, pipeline.prover, strict=True), 1):
        print(
            f"    group {n}: {total:.2f} s grouped -> mined, {prover:.2f} s in the prover, "
            f"{total - prover:.2f} s overhead"
        )
    print(
        f"    submitted {pipeline.groups} groups; overhead p50 {statistics.median(pipeline.overhead):.2f} s, "
        f"p95 {percentile(pipeline.overhead, 0.95):.2f} s",
        flush=True,
    )

    print(f"(3) collector queries over {args.rows:,} rows ({args.requested_rows:,} requested) ...", flush=True)
    queries = measure_queries(args.postgres_url, args.rows, args.requested_rows)
    print(
        "    EXPLAIN (ANALYZE, BUFFERS) of collect's candidate SELECT:\n"
        + "\n".join("      " + line for line in queries.plan.splitlines())
    )
    print(f"    uses {INDEX_NAME}: {'yes' if queries.uses_index else 'NO'}")
    print(
        f"    read_backlog p50 {statistics.median(queries.backlog_ms):.2f} ms, candidate SELECT p50 "
        f"{statistics.median(queries.candidates_ms):.2f} ms, collect (rolled back) p50 "
        f"{statistics.median(queries.collect_ms):.2f} ms",
        flush=True,
    )
    print()
    print(markdown(machine, groupings, pipeline, queries))
    print(f"\nbenchmark finished in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
