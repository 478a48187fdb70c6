"""`intmax`: migrate the warehouse, serve the API, run Dagster, and (later) drive the devnet."""

from __future__ import annotations

import argparse
import sys

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
    """Migrate, then run the API and Dagster (UI + daemon) until Ctrl-C."""
    from intmax_cli import processes
    from intmax_core.warehouse import migrate

    migrate.upgrade(settings.warehouse_url)
    commands = {
        "api": [sys.executable, "-m", "intmax_cli.main", "api"],
        "dagster": processes.dagster_dev_command(args.dagster_port),
    }
    print(
        f"API on http://{settings.api_host}:{settings.api_port}/v1/health, "
        f"Dagster UI on http://127.0.0.1:{args.dagster_port}; Ctrl-C stops both",
        file=sys.stderr,
    )
    return processes.run_until_interrupted(commands, processes.dagster_environment())


def _config(settings: Settings, args: argparse.Namespace) -> int:
    # model_dump_json keeps SecretStr masked as "**********".
    print(settings.model_dump_json(indent=2))
    return 0


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

    up = commands.add_parser("up", help="migrate, then run the API and Dagster until Ctrl-C")
    up.add_argument("--dagster-port", type=int, default=DAGSTER_UI_PORT)
    up.set_defaults(handler=_up)

    config = commands.add_parser("config", help="print the effective settings (secrets masked)")
    config.set_defaults(handler=_config)
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
