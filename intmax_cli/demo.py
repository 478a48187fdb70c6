"""`intmax demo`: start the embedded stack, drive one INTMAX2 life cycle on its devnet, narrate it.

It does what `intmax up` does (devnet with its stand-ins, simulated activity, migrated SQLite
warehouse, API, `dagster dev` with its daemon), in a working area of its own (data dir and
DAGSTER_HOME; a fresh temporary directory unless --work-dir), with the devnet chains on free
ports, so that neither a developer's `.intmax/` and running devnet nor the test suite's are
touched. It then watches the pipeline carry the simulated deposits, withdrawals, builder
heartbeats and prices through every stage (intmax_cli.demo_stages), claims one claimable
withdrawal on L1 as its recipient would, and stops everything it started, on success, failure,
Ctrl-C or SIGTERM alike. Exit 0 when every stage was seen in time, 1 naming the first that was
not, 2 when the demo could not start, 130 when interrupted.

Heavy imports (web3, the devnet, SQLAlchemy tables) happen in `run_demo`, not at CLI start.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

from intmax_core.config import Settings, SettingsError

# The whole demo, shutdown (~10 s) excluded, stays under 5 minutes even when a stage is late.
DEFAULT_BUDGET_SECONDS = 280
DEFAULT_API_PORT = 3000
DEFAULT_DAGSTER_PORT = 3100
# The default plan is `intmax up`'s (seed 1 on a fresh devnet): it has direct and claimable withdrawals.
DEFAULT_PLAN = {"seed": 1, "users": 5, "deposits": 20, "withdrawals": 10, "builders": 3, "blocks": 5}
# Seconds each stage may take after the previous one of its track (the first: after the stack is
# up). Sized from runs on 2 busy cores: sensors tick every 15-30 s, a run needs 5-15 s to start
# its process, and the messenger relayer and builder health run on a per-minute cron.
DEFAULT_DEADLINES: dict[str, float] = {
    "stack-up": 150,
    "deposits-made": 120,
    "deposits-relayed": 120,
    "deposits-processed": 150,
    "withdrawals-requested": 30,
    "withdrawals-grouped": 120,
    "withdrawals-proven": 90,
    "withdrawals-submitted": 60,
    "withdrawals-relayed": 120,
    "withdrawals-paid": 120,
    "withdrawal-claimed": 120,
    "builders-heartbeating": 150,
    "builders-judged": 90,
    "prices-synced": 120,
}
# Settings the demo passes to the API and Dagster (and says so in its header), beyond the devnet
# manifest's own; everything else is what `intmax up` runs with.
TIGHTENED = {
    "INTMAX_WITHDRAWAL_MIN_BATCH_SIZE": (
        "1",
        "collect withdrawals as soon as one waits (default 5, or the oldest 5 minutes old)",
    ),
}
# Schedules outside the life cycle: each run costs ~10 s of CPU to start, taken from the stages on 2
# cores, so the demo moves them out of its few minutes (to 1 January, 00:00 UTC).
PARKED_CRON = "0 0 1 1 *"
PARKED_SCHEDULES = {
    "INTMAX_TRANSACTION_LEDGER_CRON": "transaction ledger summary (every 5 min)",
    "INTMAX_BLOCK_SYNC_CRON": "block-sync monitor (every 5 min)",
    "INTMAX_WALLET_OBSERVER_CRON": "wallet observer (every 15 min)",
    "INTMAX_TX_MAP_CLEANER_CRON": "tx-map cleaner (every 15 min)",
    "INTMAX_TOKEN_PRICES_FRESHNESS_CRON": "price freshness check (every 15 min)",
    "INTMAX_DAILY_STATS_CRON": "daily statistics (hourly)",
    "INTMAX_MINTING_SCHEDULE_CRON": "minting (daily)",
}
EXIT_MISSED, EXIT_SETUP, EXIT_INTERRUPTED = 1, 2, 130


class Interrupted(BaseException):  # SIGTERM, handled like Ctrl-C
    pass


class SetupError(Exception):
    pass


def add_demo_parser(commands: Any) -> None:
    """Register `intmax demo` on the CLI's subcommands (`commands` is argparse's subparsers action)."""
    demo = commands.add_parser(
        "demo", help="start the embedded stack, drive one life cycle on the devnet and narrate each stage"
    )
    demo.add_argument("--api-port", type=int, default=DEFAULT_API_PORT)
    demo.add_argument("--dagster-port", type=int, default=DEFAULT_DAGSTER_PORT)
    demo.add_argument(
        "--work-dir", type=Path, help="data dir, DAGSTER_HOME and logs go here (kept); default a temporary directory"
    )
    demo.add_argument("--keep", action="store_true", help="keep the temporary working directory at exit")
    for name, default in DEFAULT_PLAN.items():
        demo.add_argument(f"--{name}", type=int, default=default, help=f"simulation plan: {name} (default {default})")
    demo.add_argument(
        "--deadline",
        action="append",
        default=[],
        metavar="STAGE=SECONDS",
        help=f"a stage's deadline (repeatable); stages: {', '.join(DEFAULT_DEADLINES)}",
    )
    demo.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_SECONDS,
        help=f"seconds the whole demo may take before stopping, shutdown excluded (default {DEFAULT_BUDGET_SECONDS})",
    )
    demo.add_argument(
        "--patience",
        type=float,
        default=1.0,
        help="multiply every stage's deadline and the budget by this (e.g. 2 on a machine busy with other work)",
    )
    demo.set_defaults(handler=run_demo)


def parse_deadlines(items: list[str]) -> dict[str, float]:
    deadlines = dict(DEFAULT_DEADLINES)
    for item in items:
        key, _, seconds = item.partition("=")
        if key not in deadlines:
            raise SetupError(f"--deadline {item!r}: unknown stage {key!r} (stages: {', '.join(DEFAULT_DEADLINES)})")
        try:
            deadlines[key] = float(seconds)
        except ValueError:
            raise SetupError(f"--deadline {item!r}: SECONDS must be a number") from None
        if deadlines[key] <= 0:
            raise SetupError(f"--deadline {item!r}: SECONDS must be positive")
    return deadlines


def port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As uvicorn and Dagster bind: a port left in TIME_WAIT by a previous run is free to them.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def run_demo(_settings: Settings, args: argparse.Namespace) -> int:
    started = time.time()
    try:
        deadlines = parse_deadlines(args.deadline)
        for flag, port in (("--api-port", args.api_port), ("--dagster-port", args.dagster_port)):
            if not 1 <= port <= 65535 or port_taken(port):
                raise SetupError(f"{flag} {port}: port is not free (another `intmax up` or demo?); choose another")
        if args.budget <= 0:
            raise SetupError("--budget must be positive")
        if args.patience < 1:
            raise SetupError("--patience must be at least 1")
        deadlines = {stage: seconds * args.patience for stage, seconds in deadlines.items()}
        if args.api_port == args.dagster_port:
            raise SetupError("--api-port and --dagster-port must differ")
        from intmax_devnet.simulator import SimulationPlan

        try:
            plan = SimulationPlan(**{name: getattr(args, name) for name in DEFAULT_PLAN})
        except ValueError as error:
            raise SetupError(f"plan: {error}") from None
        if not (plan.deposits and plan.withdrawals and plan.builders):
            raise SetupError("plan: the life cycle needs --deposits, --withdrawals and --builders >= 1")
        work_dir, temporary = _work_dir(args.work_dir)
    except SetupError as error:
        print(f"intmax demo: {error}", file=sys.stderr)
        return EXIT_SETUP
    previous = signal.signal(signal.SIGTERM, _interrupt)
    failed = True
    try:
        code = _run(work_dir, plan, deadlines, args, started)
        failed = code != 0
        return code
    except (KeyboardInterrupt, Interrupted):
        print("intmax demo: interrupted; everything it started is stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SetupError as error:
        print(f"intmax demo: {error}", file=sys.stderr)
        return EXIT_SETUP
    finally:
        signal.signal(signal.SIGTERM, previous)
        if temporary and not args.keep and not failed:
            shutil.rmtree(work_dir, ignore_errors=True)
        elif temporary:
            print(f"intmax demo: logs and data kept in {work_dir}", file=sys.stderr)
        print(f"intmax demo: took {time.time() - started:.0f} s", file=sys.stderr)


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise Interrupted()


def _work_dir(given: Path | None) -> tuple[Path, bool]:
    if given is None:
        return Path(tempfile.mkdtemp(prefix="intmax-demo-")), True
    given = given.resolve()
    if given.exists() and any(given.iterdir()):
        raise SetupError(f"--work-dir {given}: must be empty or not exist (the demo starts from nothing)")
    given.mkdir(parents=True, exist_ok=True)
    return given, False


def say(line: str) -> None:
    print(line, flush=True)


def _run(work_dir: Path, plan: Any, deadlines: dict[str, float], args: argparse.Namespace, started: float) -> int:
    from intmax_cli import demo_stack

    data_dir, dagster_home, log_dir = work_dir / "data", work_dir / "dagster_home", work_dir / "logs"
    for directory in (data_dir, dagster_home, log_dir):
        directory.mkdir()
    overrides = {
        "INTMAX_DATA_DIR": str(data_dir),
        "INTMAX_API_HOST": "127.0.0.1",
        "INTMAX_API_PORT": str(args.api_port),
    }
    overrides |= {name: value for name, (value, _why) in TIGHTENED.items()}
    overrides |= dict.fromkeys(PARKED_SCHEDULES, PARKED_CRON)
    try:
        probe = demo_stack.settings_for(overrides)
    except SettingsError as error:
        raise SetupError(str(error)) from None
    configured = [
        name
        for name, value in (
            ("INTMAX_L1_RPC_URLS", probe.l1_rpc_urls),
            ("INTMAX_L2_RPC_URLS", probe.l2_rpc_urls),
            ("INTMAX_DATABASE_URL", probe.database_url),
        )
        if value
    ]
    configured += ["INTMAX_NETWORK"] if probe.network != "devnet" else []
    if configured:
        raise SetupError(
            f"the demo runs on its own devnet and SQLite warehouse: unset {', '.join(configured)} (environment or .env)"
        )
    _header(work_dir, plan, deadlines, args)
    return demo_stack.run(
        demo_stack.DemoOptions(
            work_dir=work_dir,
            data_dir=data_dir,
            dagster_home=dagster_home,
            log_dir=log_dir,
            overrides=overrides,
            plan=plan,
            deadlines=deadlines,
            dagster_port=args.dagster_port,
            started=started,
            budget=args.budget * args.patience,
        ),
        say,
    )


def _header(work_dir: Path, plan: Any, deadlines: dict[str, float], args: argparse.Namespace) -> None:
    from intmax_cli import demo_stack

    say("intmax demo: one INTMAX2 life cycle on a fresh devnet, observed stage by stage")
    say(f"  working area  {work_dir} (data dir, DAGSTER_HOME, logs/)")
    say(f"  API           http://127.0.0.1:{args.api_port}/v1   Dagster UI http://127.0.0.1:{args.dagster_port}")
    say(
        f"  plan          seed {plan.seed}: {plan.users} users, {plan.deposits} deposits, {plan.withdrawals} "
        f"withdrawals, {plan.builders} builders, {plan.blocks} INTMAX blocks"
    )
    say("  settings      as `intmax up` on the devnet (deposits relayed 15 s after the oldest), except:")
    for name, (value, why) in TIGHTENED.items():
        say(f"                {name}={value}: {why}")
    say(f"                {', '.join(PARKED_SCHEDULES)}={PARKED_CRON!r}: not part of the life cycle")
    say(f"                ({'; '.join(PARKED_SCHEDULES.values())}), kept from competing for the CPU;")
    stopped = ", ".join(demo_stack.STOPPED_SENSORS)
    say(f"                for the same reason the demo switches off {stopped} in Dagster,")
    say("                and each sensor or schedule once the stages it serves are seen")
    say("                sensors tick every 15-30 s; messenger relayer and builder health every minute (cron)")
    say(
        "  Dagster       the embedded instance (dagster_home/dagster.yaml) launching queued runs from 2 threads "
        "every second and evaluating sensors and schedules in 4 threads (default: one run every 5 s, one tick "
        "at a time): each run's process needs ~10 s of CPU to load the code location"
    )
    say(f"  deadlines     per stage, after the previous one of its track: {_deadline_list(deadlines)}")


def _deadline_list(deadlines: dict[str, float]) -> str:
    return ", ".join(f"{key} {seconds:.0f}s" for key, seconds in deadlines.items())
