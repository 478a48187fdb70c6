"""Run long-lived children (API server, Dagster) in their own process groups and stop them together."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from intmax_devnet.anvil import stop_process_group

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# `dagster dev` needs time to stop its daemon and code server after SIGTERM.
STOP_TIMEOUT_SECONDS = 30.0


# `dagster dev` announces at every start that the separate `dg` CLI supersedes it; we run
# `dagster dev` on purpose (dg is not a dependency). PYTHONWARNINGS can name only built-in categories,
# so this matches the message (a literal prefix). Dagster's Beta/Preview/Supersession warnings about
# our definitions are filtered by category where the code location is loaded (intmax_assets).
DAGSTER_CLI_WARNING_FILTERS = ("ignore:Function `dev_command` is superseded",)


def dagster_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / "dagster_home"))
    # Appended: the user's own PYTHONWARNINGS entries stay in force.
    env["PYTHONWARNINGS"] = ",".join(filter(None, [env.get("PYTHONWARNINGS"), *DAGSTER_CLI_WARNING_FILTERS]))
    return env


def dagster_dev_command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-w",
        str(PROJECT_ROOT / "workspace.yaml"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def start_children(
    commands: dict[str, list[str]],
    env: dict[str, str],
    children: dict[str, subprocess.Popen],
    log_dir: Path | None = None,
) -> None:
    """Start every command in its own process group, adding each to `children` as soon as it runs
    (so that a caller stopping `children` after an interruption stops exactly what was started).
    With `log_dir`, each child's output goes to `<log_dir>/<name>.log` instead of our terminal."""
    for name, command in commands.items():
        with contextlib.ExitStack() as files:
            log = files.enter_context(open(log_dir / f"{name}.log", "ab")) if log_dir else None
            children[name] = subprocess.Popen(
                command,
                env=env,
                cwd=PROJECT_ROOT,
                start_new_session=True,
                stdout=log,
                stderr=subprocess.STDOUT if log else None,
            )
        print(f"started {name} (pid {children[name].pid})", file=sys.stderr)


def stop_children(children: dict[str, subprocess.Popen]) -> None:
    """Stop each child's whole process group (SIGTERM, then SIGKILL after STOP_TIMEOUT_SECONDS)."""
    for name, child in children.items():
        stop_process_group(child.pid, timeout=STOP_TIMEOUT_SECONDS)
        print(f"stopped {name}", file=sys.stderr)


def run_until_interrupted(commands: dict[str, list[str]], env: dict[str, str]) -> int:
    """Start every command; when one exits or we get SIGINT/SIGTERM, stop all of them."""
    children: dict[str, subprocess.Popen] = {}
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        start_children(commands, env, children)
        while not stopping:
            exited = [name for name, child in children.items() if child.poll() is not None]
            if exited:
                print(f"{', '.join(exited)} exited; stopping the rest", file=sys.stderr)
                break
            time.sleep(0.5)
    finally:
        stop_children(children)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if stopping else 1
