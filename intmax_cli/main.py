"""`intmax`: migrate the warehouse, serve the API, run Dagster, and (later) drive the devnet."""

from __future__ import annotations

import argparse
import json
import sys
from urllib.parse import urlsplit, urlunsplit

from intmax_cli.demo import add_demo_parser
from intmax_cli.worker import add_worker_parser
from intmax_core.config import Settings, SettingsError, load_settings

DAGSTER_UI_PORT = 3100


def _db(settings: Settings, args: argparse.Namespace) -> int:
    from intmax_core.warehouse import migrate
    from intmax_core.warehouse.engine import redacted

    url = settings.warehouse_url
    if args.db_command == "upgrade":
        before, after = migrate.upgrade(url)
        state = "already at" if before == after else f"upgraded from {before or 'empty'} to"
        print(f"warehouse {redacted(url)}: {state} revision {after}")
    elif args.db_command == "check":
        migrate.check(url)
        print("warehouse schema matches the migrations")
    else:
        print(f"{redacted(url)}: revision {migrate.current_revision(url) or 'none'} (head {migrate.head_revision()})")
    return 0


def _api(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from intmax_api.app import create_app
    from intmax_core.logs import configure_json_logging

    configure_json_logging(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        log_config=None,
    )
    return 0


def _dagster(settings: Settings, args: argparse.Namespace) -> int:
    from intmax_cli import processes

    return processes.run_until_interrupted(
        {"dagster": processes.dagster_dev_command(args.port)}, processes.dagster_environment()
    )


def _up(settings: Settings, args: argparse.Namespace) -> int:
    """Start the devnet when no chain is configured (and simulate activity on it), migrate, then run
    the API and Dagster (UI + daemon) until Ctrl-C; stop on exit what this command started."""
    from intmax_cli import processes, stack
    from intmax_core.warehouse import migrate

    started_devnet = False
    if settings.network == "devnet" and not settings.l1_rpc_urls:
        from intmax_devnet import devnet
        from intmax_devnet.simulator import SimulationPlan, simulate

        manifest = devnet.up(settings.data_dir)
        started_devnet = True
        print(f"devnet up: L1 {manifest.l1.rpc_url}, L2 {manifest.l2.rpc_url}", file=sys.stderr)
        settings = load_settings()  # now configured from the manifest
    try:
        migrate.upgrade(settings.warehouse_url)
        if started_devnet and not args.no_simulate:
            report = simulate(settings, SimulationPlan(seed=args.seed))
            print(report.describe(), file=sys.stderr)
            print(stack.routes_to_try(settings, report), file=sys.stderr)
        commands = stack.pipeline_commands(args.dagster_port)
        print(
            f"API on http://{settings.api_host}:{settings.api_port}/v1/health, "
            f"Dagster UI on http://127.0.0.1:{args.dagster_port}; Ctrl-C stops everything",
            file=sys.stderr,
        )
        return processes.run_until_interrupted(commands, processes.dagster_environment())
    finally:
        if started_devnet:
            devnet.down(settings.data_dir)
            print("devnet down", file=sys.stderr)


def _devnet(settings: Settings, args: argparse.Namespace) -> int:
    from intmax_devnet import devnet

    data_dir = settings.data_dir
    if args.devnet_command == "up":
        try:
            manifest = devnet.up(data_dir, l1_port=args.l1_port, l2_port=args.l2_port)
        except devnet.DevnetError as error:
            print(f"intmax devnet up: {error}", file=sys.stderr)
            return 1
        print(
            f"devnet up: L1 {manifest.l1.rpc_url} (chain {manifest.l1.chain_id}), "
            f"L2 {manifest.l2.rpc_url} (chain {manifest.l2.chain_id}); manifest {data_dir / 'devnet.json'}"
        )
        return 0
    if args.devnet_command == "down":
        stopped = devnet.down(data_dir)
        print(f"devnet down: stopped {len(stopped)} chain(s)" if stopped else "no devnet was running")
        return 0
    if args.devnet_command == "status":
        running, report = devnet.status(data_dir)
        print(report)
        return 0 if running else 1
    if args.devnet_command == "builder":
        return _devnet_builder(settings, args)
    from intmax_devnet.simulator import SimulationPlan, simulate

    try:
        plan = SimulationPlan(
            seed=args.seed,
            users=args.users,
            deposits=args.deposits,
            withdrawals=args.withdrawals,
            builders=args.builders,
            blocks=args.blocks,
        )
    except ValueError as error:
        print(f"intmax devnet simulate: {error}", file=sys.stderr)
        return 2
    print(simulate(settings, plan).describe())
    return 0


def _devnet_builder(settings: Settings, args: argparse.Namespace) -> int:
    """`intmax devnet builder <i> <behaviour>`: make simulated builder i's /fee-info misbehave (or heal)."""
    import httpx

    from intmax_core.devnet_manifest import read_manifest
    from intmax_devnet.builder_nodes import set_builder_behaviour

    manifest = read_manifest(settings.data_dir)
    if manifest is None or manifest.builder_nodes is None:
        print("intmax devnet builder: no running devnet with builder nodes (run `intmax devnet up`)", file=sys.stderr)
        return 1
    try:
        set_builder_behaviour(manifest.builder_nodes.url, args.builder, args.behaviour, args.delay_seconds)
    except (ValueError, httpx.HTTPError) as error:
        print(f"intmax devnet builder: {error}", file=sys.stderr)
        return 1
    print(f"builder {args.builder}: {args.behaviour}")
    return 0


def _tx(settings: Settings, args: argparse.Namespace) -> int:
    """The transaction ledger for operators: list rows, re-queue a parked one (the next send retries it)."""
    from intmax_core.warehouse.engine import make_engine
    from intmax_core.warehouse.ledger import TransactionStatus
    from intmax_core.warehouse.ledger_repository import LedgerRepository, NotRequeueable

    engine = make_engine(settings.warehouse_url)
    try:
        ledger = LedgerRepository(engine)
        if args.tx_command == "list":
            known = [status.value for status in TransactionStatus]
            if args.status and args.status not in known:
                print(f"intmax tx list: --status must be one of {', '.join(known)}", file=sys.stderr)
                return 2
            status = TransactionStatus(args.status) if args.status else None
            rows = ledger.list_rows(status=status, purpose=args.purpose, limit=args.limit)
            for row in rows:
                problem = row["parked_reason"] or row["last_error"] or ""
                print(
                    f"{row['purpose']}\t{row['idempotency_key']}\t{row['status']}\tchain {row['chain_id']}\t"
                    f"nonce {row['nonce']}\t{row['tx_hash'] or '-'}\t{problem}"
                )
            print(f"{len(rows)} row(s)", file=sys.stderr)
            return 0
        try:
            row = ledger.requeue(args.purpose, args.idempotency_key)
        except NotRequeueable as error:
            print(f"intmax tx requeue: {error}", file=sys.stderr)
            return 1
        print(f"{row['purpose']}/{row['idempotency_key']}: {row['status']} (the next send of the key retries it)")
        return 0
    finally:
        engine.dispose()


def _deposits(settings: Settings, args: argparse.Namespace) -> int:
    """`deposits replay <l1-tx>`: re-send a stuck deposit message through the transaction sender."""
    from intmax_core.chain.rpc import RpcClient
    from intmax_core.deposits.relayer import deposit_relayer_sender, relay_fee_wei
    from intmax_core.deposits.replay import ReplayError, find_deposit_message, replay_deposit_message
    from intmax_core.warehouse.engine import shared_engine

    missing = [
        name
        for name, value in (
            ("INTMAX_L1_RPC_URLS", settings.l1_rpc_urls),
            ("INTMAX_LIQUIDITY_ADDRESS", settings.liquidity_address),
            ("INTMAX_L1_SCROLL_MESSENGER_ADDRESS", settings.l1_scroll_messenger_address),
        )
        if not value
    ]
    if missing:
        print(f"intmax deposits replay: set {', '.join(missing)}", file=sys.stderr)
        return 2
    assert settings.liquidity_address and settings.l1_scroll_messenger_address
    tx_hash = args.l1_tx.lower()
    if len(tx_hash) != 66 or not tx_hash.startswith("0x"):
        print("intmax deposits replay: <l1-tx> must be a 0x-prefixed 32-byte transaction hash", file=sys.stderr)
        return 2
    with RpcClient(settings.l1_rpc_urls, name="L1") as client:
        try:
            message = find_deposit_message(
                client, tx_hash, settings.l1_scroll_messenger_address, settings.liquidity_address
            )
        except ReplayError as error:
            print(f"intmax deposits replay: {error}", file=sys.stderr)
            return 1
        chain_id = client.chain_id()
        if settings.l1_chain_id is not None and chain_id != settings.l1_chain_id:
            print(
                f"intmax deposits replay: L1 RPC serves chain {chain_id}, not {settings.l1_chain_id}", file=sys.stderr
            )
            return 2
        sender = deposit_relayer_sender(settings, client, shared_engine(settings.warehouse_url), chain_id)
        print(
            f"message {message.message_nonce}: {message.hashes} deposit hashes, gas limit {message.gas_limit:,} -> "
            f"{message.new_gas_limit:,}; replaying from {sender.signer.address}"
        )
        outcome = replay_deposit_message(
            sender, message, settings.l1_scroll_messenger_address, relay_fee_wei(settings), args.attempt
        )
    print(f"{outcome.purpose}/{outcome.idempotency_key}: {outcome.status.value} {outcome.tx_hash or ''}".rstrip())
    if not outcome.ok:
        print(
            f"intmax deposits replay: {outcome.error_name or outcome.parked_reason or outcome.last_error}",
            file=sys.stderr,
        )
        return 1
    return 0


def _config(settings: Settings, args: argparse.Namespace) -> int:
    # model_dump keeps SecretStr masked as "**********"; URLs are plain strings, so their credentials
    # (a password in the warehouse, Redis or broker URL, a provider key in an RPC URL) are masked here.
    values = settings.model_dump(mode="json")
    for name, value in values.items():
        if isinstance(value, str):
            values[name] = _mask_url(value, whole_path=False)
        elif isinstance(value, list) and name.endswith("rpc_urls"):
            values[name] = [_mask_url(url, whole_path=True) for url in value]
    print(json.dumps(values, indent=2))
    return 0


def _mask_url(text: str, whole_path: bool) -> str:
    """`scheme://user:****@host/path`; with whole_path (RPC URLs: providers put the key in the path or
    query) `scheme://host/****`. Text that is not a URL with a host is returned as it is."""
    parsed = urlsplit(text)
    if not parsed.scheme or not parsed.hostname:
        return text
    netloc = parsed.netloc
    if parsed.password is not None:
        netloc = netloc.replace(f":{parsed.password}@", ":****@", 1)
    if whole_path and (parsed.path.strip("/") or parsed.query):
        return urlunsplit((parsed.scheme, netloc, "/****", "", ""))
    return urlunsplit((parsed.scheme, netloc, parsed.path, parsed.query, parsed.fragment))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intmax", description="INTMAX2 off-chain pipeline")
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="warehouse migrations")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply migrations (idempotent)")
    db_commands.add_parser("check", help="fail if the schema module and migrations differ")
    db_commands.add_parser("current", help="show the applied revision")
    db.set_defaults(handler=_db)

    api = commands.add_parser("api", help="serve the HTTP API")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    api.set_defaults(handler=_api)

    dagster = commands.add_parser("dagster", help="Dagster UI + daemon on the embedded instance")
    dagster.add_argument("--port", type=int, default=DAGSTER_UI_PORT)
    dagster.set_defaults(handler=_dagster)

    up = commands.add_parser("up", help="devnet (if no chain is configured), migrate, API + Dagster until Ctrl-C")
    up.add_argument("--dagster-port", type=int, default=DAGSTER_UI_PORT)
    up.add_argument("--seed", type=int, default=1, help="simulator seed for the devnet's activity")
    up.add_argument("--no-simulate", action="store_true", help="start the devnet without simulated activity")
    up.set_defaults(handler=_up)

    devnet = commands.add_parser("devnet", help="local L1 + L2 chains with the INTMAX2 contracts")
    devnet_commands = devnet.add_subparsers(dest="devnet_command", required=True)
    devnet_up = devnet_commands.add_parser("up", help="start both chains, deploy, write the manifest")
    devnet_up.add_argument("--l1-port", type=int, default=8545)
    devnet_up.add_argument("--l2-port", type=int, default=8546)
    devnet_commands.add_parser("down", help="stop what `up` started and remove the manifest")
    devnet_commands.add_parser("status", help="what runs (exit 1 when the devnet is not running)")
    builder = devnet_commands.add_parser("builder", help="make a simulated builder's /fee-info misbehave")
    builder.add_argument("builder", type=int, help="builder number (0, 1, ...)")
    # The stand-in checks the name (its 400 lists them): importing its list here would load web3 at CLI start.
    builder.add_argument("behaviour", help="healthy, old_version, fee_above_cap, disallowed_token, down, slow, error")
    builder.add_argument("--delay-seconds", type=float, help="how long `slow` sleeps (default 6)")
    simulate = devnet_commands.add_parser("simulate", help="deterministic user and operator activity")
    simulate.add_argument("--seed", type=int, default=1)
    simulate.add_argument("--users", type=int, default=5, help="distinct depositing users")
    simulate.add_argument("--deposits", type=int, default=20, help="ETH and ERC20 deposits")
    simulate.add_argument("--withdrawals", type=int, default=10, help="withdrawal requests (warehouse rows)")
    simulate.add_argument("--builders", type=int, default=3, help="block builders sending heartbeats")
    simulate.add_argument("--blocks", type=int, default=5, help="INTMAX blocks posted to the Rollup")
    devnet.set_defaults(handler=_devnet)

    tx = commands.add_parser("tx", help="the transaction ledger: list rows, re-queue parked ones")
    tx_commands = tx.add_subparsers(dest="tx_command", required=True)
    tx_list = tx_commands.add_parser("list", help="ledger rows, oldest first (tab-separated)")
    tx_list.add_argument("--status", help="pending, sent, confirmed, settled, failed, parked, dropped or reverted")
    tx_list.add_argument("--purpose")
    tx_list.add_argument("--limit", type=int, default=100)
    requeue = tx_commands.add_parser("requeue", help="make a parked row retryable: the next send of its key retries it")
    requeue.add_argument("purpose")
    requeue.add_argument("idempotency_key")
    tx.set_defaults(handler=_tx)

    deposits = commands.add_parser("deposits", help="deposit operations")
    deposits_commands = deposits.add_subparsers(dest="deposits_command", required=True)
    replay = deposits_commands.add_parser(
        "replay", help="re-send the stuck L1->L2 message of a relayDeposits transaction with a gas limit that fits it"
    )
    replay.add_argument("l1_tx", help="hash of the L1 transaction that relayed the deposits")
    replay.add_argument(
        "--attempt", type=int, default=1, help="replay number for this message (a second replay needs 2, ...)"
    )
    deposits.set_defaults(handler=_deposits)

    config = commands.add_parser("config", help="print the effective settings (secrets masked)")
    config.set_defaults(handler=_config)

    add_worker_parser(commands)
    add_demo_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"intmax: {error}", file=sys.stderr)
        return 2
    return args.handler(settings, args)


if __name__ == "__main__":
    raise SystemExit(main())
