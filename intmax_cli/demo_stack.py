"""The demo's stack: what `intmax up` starts, in the demo's own working area, then the observer.

Order as in `intmax up`: the devnet (chains on free ports, stand-ins), settings from its manifest,
the warehouse migrated, the simulated activity, then the API and `dagster dev` as children in
their own process groups. Everything started is stopped in `finally`, whatever ended the demo.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from intmax_cli import processes, stack
from intmax_cli.demo_observer import ChildExited, Observer, OutOfTime, StageMissed, elapsed
from intmax_cli.demo_runs import DagsterRuns
from intmax_cli.demo_stages import build_stages, claimable_by_design
from intmax_cli.demo_world import World
from intmax_core.config import Settings, load_settings
from intmax_core.devnet_manifest import write_manifest
from intmax_core.warehouse import migrate
from intmax_core.warehouse.engine import make_engine
from intmax_devnet.anvil import free_port
from intmax_devnet.devnet import RunningDevnet, start_devnet
from intmax_devnet.simulator import SimulationPlan, simulate

READY_POLL_SECONDS = 1.0
HTTP_TIMEOUT_SECONDS = 5.0
REPOSITORIES_QUERY = "{ repositoriesOrError { __typename } }"
# The demo's Dagster instance differs from the embedded default in how fast it starts runs (said in
# the header): a run's process spends ~10 s of CPU importing the code location, and the default
# queue launches one run at a time every 5 s, so runs requested together wait behind each other.
RUN_QUEUE_TUNING = {"dequeue_use_threads": True, "dequeue_num_workers": 2, "dequeue_interval_seconds": 1}
# Sensors outside the life cycle, switched off through the UI's API once Dagster is up: the daily
# statistics follow every `deposits` materialization with a run of their own.
STOPPED_SENSORS = ("deposit_daily_stats_sensor",)
INSTANCE_TUNING = {
    "sensors": {"use_threads": True, "num_workers": 4},
    "schedules": {"use_threads": True, "num_workers": 4},
}


class DemoSetupFailed(Exception):
    pass


def write_instance_config(dagster_home: Path) -> None:
    """The project's embedded instance (dagster_home/dagster.yaml) with INSTANCE_TUNING merged in."""
    config = yaml.safe_load((processes.PROJECT_ROOT / "dagster_home" / "dagster.yaml").read_text())
    for key, value in INSTANCE_TUNING.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    config["run_coordinator"]["config"] = {**config["run_coordinator"].get("config", {}), **RUN_QUEUE_TUNING}
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def settings_for(overrides: dict[str, str]) -> Settings:
    """The settings the children get from these INTMAX_* variables (and the manifest, once written)."""
    return load_settings(**{name.removeprefix("INTMAX_").lower(): value for name, value in overrides.items()})


@dataclass(frozen=True)
class DemoOptions:
    work_dir: Path
    data_dir: Path
    dagster_home: Path
    log_dir: Path
    overrides: dict[str, str]  # INTMAX_* variables for the demo's settings and its children
    plan: SimulationPlan
    deadlines: dict[str, float]
    dagster_port: int
    started: float  # wall clock
    budget: float  # seconds for the whole demo from `started`, shutdown excluded

    def settings(self) -> Settings:
        return settings_for(self.overrides)

    def environment(self) -> dict[str, str]:
        env = processes.dagster_environment()
        env.update(self.overrides)
        env["DAGSTER_HOME"] = str(self.dagster_home)  # never the project's (or the user's) instance
        env["PYTHONUNBUFFERED"] = "1"
        return env


def run(options: DemoOptions, say: Callable[[str], None]) -> int:
    def mark(line: str) -> None:
        say(f"{elapsed(time.time() - options.started):>8}  {line}")

    children: dict[str, subprocess.Popen] = {}
    devnet: RunningDevnet | None = None
    world: World | None = None
    runs: DagsterRuns | None = None
    try:
        # Free ports: never a developer's devnet on 8545/8546 nor a test session's.
        devnet = start_devnet(options.data_dir / "devnet", l1_port=free_port(), l2_port=free_port())
        write_manifest(options.data_dir, devnet.manifest)
        mark(f"devnet up: L1 {devnet.manifest.l1.rpc_url}, L2 {devnet.manifest.l2.rpc_url}, stand-ins started")
        settings = options.settings()  # now configured from the manifest
        migrate.upgrade(settings.warehouse_url)
        write_instance_config(options.dagster_home)
        # Dagster takes the longest to come up: start it first, and simulate while it loads.
        processes.start_children(
            stack.pipeline_commands(options.dagster_port), options.environment(), children, options.log_dir
        )
        report = simulate(settings, options.plan)
        mark("simulated activity: " + report.describe().replace("\n", "\n" + " " * 12))
        world = World(make_engine(settings.warehouse_url), stack.api_base_url(settings), devnet.manifest, report)
        _require_claimable(world, options.plan)
        runs = DagsterRuns(f"http://127.0.0.1:{options.dagster_port}")
        stack_up_at = _wait_until_up(world, runs, children, options.deadlines["stack-up"])
        mark(f"stack up: API {world.api_url}/health answers, Dagster UI {runs.ui_url} has the code location loaded")
        for sensor in STOPPED_SENSORS:
            mark(f"switched off sensor {sensor} in Dagster (it is {runs.stop_sensor(sensor)})")
        stages = build_stages(options.deadlines)
        observer = Observer(stages, world, runs, children, options.started, options.budget, say)
        observer.run(stack_up_at)
        mark(f"every stage observed ({len(observer.done)}); stopping the stack")
        return 0
    except (StageMissed, OutOfTime, ChildExited, DemoSetupFailed) as failure:
        mark(f"FAILED: {failure}")
        say(f"{'':>8}  logs: {options.log_dir} (api, dagster), {options.data_dir / 'devnet'} (chains, stand-ins)")
        return 1
    finally:
        processes.stop_children(children)
        if devnet is not None:
            devnet.stop()
            (options.data_dir / "devnet.json").unlink(missing_ok=True)
        if world is not None:
            world.engine.dispose()
            world.api.close()
        if runs is not None:
            runs.close()
        print("intmax demo: stopped the API, Dagster and the devnet", flush=True)


def _require_claimable(world: World, plan: SimulationPlan) -> None:
    """The life cycle ends with a claim: the plan must request a withdrawal Liquidity will not pay directly."""
    rows = world.withdrawal_rows()
    if not any(claimable_by_design(row["contract_withdrawal"]) for row in rows.values()):
        raise DemoSetupFailed(
            f"stage 'withdrawal claimed' cannot happen: seed {plan.seed} requested no withdrawal in a token that "
            "Liquidity does not pay directly (USDC), so none would become claimable; choose another --seed"
        )


def _wait_until_up(world: World, runs: DagsterRuns, children: dict[str, subprocess.Popen], deadline: float) -> float:
    """Until the API's health answers 200 and Dagster serves the code location; returns when."""
    since = time.time()
    while True:
        for name, child in children.items():
            if child.poll() is not None:
                raise ChildExited(f"the {name} process exited (code {child.returncode}) before the stack was up")
        if _api_up(world) and _dagster_up(runs):
            return time.time()
        if time.time() - since > deadline:
            raise DemoSetupFailed(f"stage 'stack up' (stack-up) was not observed within {deadline:.0f} s")
        time.sleep(READY_POLL_SECONDS)


def _api_up(world: World) -> bool:
    try:
        return world.api.get(f"{world.api_url}/health", timeout=HTTP_TIMEOUT_SECONDS).status_code == 200
    except httpx.HTTPError:
        return False


def _dagster_up(runs: DagsterRuns) -> bool:
    try:
        answer = runs.client.post(f"{runs.ui_url}/graphql", json={"query": REPOSITORIES_QUERY})
        return answer.status_code == 200 and answer.json()["data"]["repositoriesOrError"]["__typename"] == (
            "RepositoryConnection"
        )
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return False
