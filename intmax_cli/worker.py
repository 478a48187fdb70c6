"""`intmax worker`: a Celery worker that executes the steps of runs launched with INTMAX_EXECUTOR=celery.

It is dagster-celery's worker (the same app and `execute_plan` task that `dagster-celery worker
start -A dagster_celery.app` serves), configured from the pipeline settings instead of a YAML file:
the broker and backend come from INTMAX_CELERY_BROKER_URL / INTMAX_CELERY_BACKEND_URL, so no file
holding the broker URL is written. A task carries the run id, the Dagster instance's reference
(its YAML with `env:` references, never the resolved secrets) and the job's origin
(`intmax_assets.definitions:defs`); the worker loads that code location with the settings of its
own environment, so every worker needs the same INTMAX_* variables as the code location and the
variables the instance YAML reads (INTMAX_DAGSTER_POSTGRES_URL).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from typing import TYPE_CHECKING, Any

from intmax_core.config import Settings

if TYPE_CHECKING:
    from celery import Celery

# dagster_celery's default queue: steps without a `dagster-celery/queue` tag are submitted to it.
DEFAULT_QUEUE = "dagster"


def add_worker_parser(commands: Any) -> None:
    """Register `intmax worker` on the CLI's subcommands (`commands` is argparse's subparsers action)."""
    worker = commands.add_parser(
        "worker", help="Celery worker executing the steps of runs launched with INTMAX_EXECUTOR=celery"
    )
    worker.add_argument(
        "--concurrency", type=int, default=1, help="steps this worker executes at once (worker processes; default 1)"
    )
    worker.add_argument(
        "--queue",
        action="append",
        dest="queues",
        help=f"queue to consume (repeatable; default {DEFAULT_QUEUE!r}); a step tagged dagster-celery/queue=<q> "
        "goes to queue <q>",
    )
    worker.add_argument("--name", help="Celery node name (default intmax-<pid>@<host>)")
    worker.add_argument("--loglevel", help="Celery log level (default INTMAX_LOG_LEVEL)")
    worker.set_defaults(handler=run_worker)


def build_app(settings: Settings) -> Celery:
    """dagster_celery's app with its step task, pointed at the configured broker and backend."""
    from dagster_celery.executor import CeleryExecutor
    from dagster_celery.make_app import make_app
    from dagster_celery.tasks import create_task

    broker = settings.celery_broker_url
    executor = CeleryExecutor.for_cli(broker=broker, backend=settings.celery_backend_url or broker)
    app = make_app(executor.app_args())
    create_task(app)
    return app


def worker_argv(settings: Settings, args: argparse.Namespace) -> list[str]:
    queues = args.queues or [DEFAULT_QUEUE]
    return [
        "worker",
        f"--loglevel={args.loglevel or settings.log_level}",
        f"--concurrency={args.concurrency}",
        # One step at a time per worker process: a prefetched step would wait behind a long one
        # while another worker idles (dagster-celery's own `worker start` sets the same).
        "--prefetch-multiplier=1",
        f"--queues={','.join(queues)}",
        f"--hostname={_node_name(args.name)}",
    ]


def _node_name(name: str | None) -> str:
    """Celery's node name, <name>@<host>: unique per worker on a host (the default celery@<host> is not)."""
    if name is None:
        name = f"intmax-{os.getpid()}"
    return name if "@" in name else f"{name}@{socket.gethostname()}"


def run_worker(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.celery_broker_url:
        print("intmax worker: set INTMAX_CELERY_BROKER_URL (the broker runs submit their steps to)", file=sys.stderr)
        return 2
    if args.concurrency < 1:
        print("intmax worker: --concurrency must be at least 1", file=sys.stderr)
        return 2
    # Load the code location before the worker forks its pool: a broken configuration or import
    # fails here, at start, and every pool process inherits the loaded definitions instead of
    # importing them again for its first step.
    import intmax_assets.definitions  # noqa: F401

    build_app(settings).worker_main(worker_argv(settings, args))
    return 0
