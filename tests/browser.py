"""Helpers for the browser tests: a real Dagster (code server, webserver, daemon) and Debian's chromium.

Playwright drives /usr/bin/chromium (its own browser download is not reachable here). The flags
keep chromium from calling home: the machine's network is closed, and a blocked update or sync
request would only slow every page down.

Also a pytest plugin (a test module loads it with `pytest_plugins = ["tests.browser"]`): the
`chromium` and `browser_page` fixtures, and a report hook through which `browser_page` saves a
full-page screenshot of every test that failed to test-artifacts/browser/<test name>.png.
The test module imports this module before pytest registers it as a plugin, so pytest could not
rewrite its asserts any more and would warn about it; PYTEST_DONT_REWRITE says that is intended.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import warnings
from collections.abc import Generator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from intmax_devnet.anvil import free_port, stop_process_group
from tests.conftest import PROJECT_ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCATION = "intmax"
REPOSITORY = "__repository__"
# Loading the code location takes 10-20 s on two busy cores; the webserver and daemon start after it.
START_TIMEOUT_SECONDS = 120.0
# Dagster's UI renders slowly on two busy cores: every Playwright wait gets this long.
UI_TIMEOUT_MS = 60_000
VIEWPORT = {"width": 1600, "height": 1000}
# Playwright's expect() waits 5 s by default, whatever the page's default timeout is.
expect.set_options(timeout=UI_TIMEOUT_MS)
ARTIFACTS = Path("test-artifacts") / "browser"


def launch_chromium(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@dataclass(frozen=True)
class RunningDagster:
    url: str
    dagster_home: Path
    log_dir: Path

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = httpx.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60)
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]


REPOSITORY_SELECTOR = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}

INSTIGATORS_QUERY = """
query($repository: RepositorySelector!) {
  repositoryOrError(repositorySelector: $repository) {
    ... on Repository {
      sensors { name sensorState { id status } }
      schedules { name scheduleState { id status } }
    }
    ... on PythonError { message }
  }
}
"""

STOP_SENSOR = """
mutation($id: String!) {
  stopSensor(id: $id) { ... on StopSensorMutationResult { instigationState { status } } ... on PythonError { message } }
}
"""

STOP_SCHEDULE = """
mutation($id: String!) {
  stopRunningSchedule(id: $id) {
    ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message }
  }
}
"""

DAEMON_HEALTH = "query { instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }"

# The webserver's "Join the Dagster community" dialog opens over any page on localhost a few
# seconds after it loads, and would swallow the tests' clicks; this records it as seen.
NUX_SEEN = "mutation { setNuxSeen }"


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(
            command, cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )


def _wait(what: str, ready: Any, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{what} did not start; its log ends:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _stop_every_instigator(dagster: RunningDagster) -> list[str]:
    """Stop every sensor and schedule (most are RUNNING by default) before the daemon starts.

    The tests launch their own runs; the project's sensors would otherwise start tail indexing,
    deposit relays and health checks on the shared test devnet, competing with those runs for two
    cores and for the streams' locks. Returns the names stopped."""
    repository = dagster.graphql(INSTIGATORS_QUERY, {"repository": REPOSITORY_SELECTOR})["repositoryOrError"]
    assert "sensors" in repository, repository
    stopped = []
    for sensor in repository["sensors"]:
        result = dagster.graphql(STOP_SENSOR, {"id": sensor["sensorState"]["id"]})["stopSensor"]
        assert result.get("instigationState", {}).get("status") == "STOPPED", result
        stopped.append(sensor["name"])
    for schedule in repository["schedules"]:
        result = dagster.graphql(STOP_SCHEDULE, {"id": schedule["scheduleState"]["id"]})["stopRunningSchedule"]
        assert result.get("scheduleState", {}).get("status") == "STOPPED", result
        stopped.append(schedule["name"])
    return stopped


LOCATION_QUERY = """
query($repository: RepositorySelector!) { repositoryOrError(repositorySelector: $repository) { __typename } }
"""


def _location_loaded(dagster: RunningDagster) -> bool:
    location = dagster.graphql(LOCATION_QUERY, {"repository": REPOSITORY_SELECTOR})["repositoryOrError"]
    return location["__typename"] == "Repository"


def _daemons_healthy(dagster: RunningDagster) -> bool:
    statuses = dagster.graphql(DAEMON_HEALTH)["instance"]["daemonHealth"]["allDaemonStatuses"]
    return all(status["healthy"] for status in statuses if status["required"])


@contextmanager
def running_dagster(
    work_dir: Path, env: dict[str, str], *, dequeue_interval_seconds: int | None = None
) -> Iterator[RunningDagster]:
    """The project's code location served by one code server, with a webserver and a daemon on it.

    This is what `dagster dev` runs, started one piece at a time so that the sensors and schedules
    can be stopped before the daemon would tick them. The instance is the project's
    dagster_home/dagster.yaml in its own DAGSTER_HOME; `dequeue_interval_seconds` makes the daemon
    look at the run queue more often than its 5 s (tests that wait for runs wait less)."""
    home = work_dir / "dagster_home"
    home.mkdir(parents=True)
    instance = yaml.safe_load((PROJECT_ROOT / "dagster_home" / "dagster.yaml").read_text())
    if dequeue_interval_seconds is not None:
        coordinator = instance["run_coordinator"].setdefault("config", {})
        coordinator["dequeue_interval_seconds"] = dequeue_interval_seconds
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance))
    grpc_port, web_port = free_port(), free_port()
    workspace = work_dir / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - grpc_server:\n"
        f"      host: 127.0.0.1\n      port: {grpc_port}\n      location_name: {LOCATION}\n"
    )
    env = {**env, "DAGSTER_HOME": str(home)}
    dagster = [sys.executable, "-m", "dagster"]
    logs = work_dir / "logs"
    logs.mkdir()
    with ExitStack() as stack:

        def start(name: str, command: list[str]) -> subprocess.Popen[bytes]:
            process = _spawn(command, env, logs / f"{name}.log")
            stack.callback(stop_process_group, process.pid, 30.0)
            return process

        code_server = start(
            "code-server",
            [
                *dagster,
                "code-server",
                "start",
                "-h",
                "127.0.0.1",
                "-p",
                str(grpc_port),
                "-m",
                "intmax_assets.definitions",
                "-a",
                "defs",
                "--location-name",
                LOCATION,
            ],
        )
        webserver = start(
            "webserver",
            [sys.executable, "-m", "dagster_webserver", "-w", str(workspace), "-h", "127.0.0.1", "-p", str(web_port)],
        )
        running = RunningDagster(url=f"http://127.0.0.1:{web_port}", dagster_home=home, log_dir=logs)
        _wait("dagster-webserver", lambda: _answers(f"{running.url}/server_info"), webserver, logs / "webserver.log")

        # The webserver watches the code server and refreshes the location once it answers.
        _wait("the code location", lambda: _location_loaded(running), code_server, logs / "code-server.log")
        _stop_every_instigator(running)
        assert running.graphql(NUX_SEEN)["setNuxSeen"] is True
        daemon = start("daemon", [sys.executable, "-m", "dagster._daemon", "run", "-w", str(workspace)])
        _wait("dagster-daemon", lambda: _daemons_healthy(running), daemon, logs / "daemon.log")
        yield running


# ------------------------------------------------------------------------------------------------
# The pytest plugin: one chromium per module, a fresh page per test, a screenshot of each failure

REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
UNSAFE_IN_FILE_NAMES = re.compile(r"[^A-Za-z0-9_.,=\[\]-]")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Keep each phase's report on the item, so a fixture's teardown knows whether the test failed."""
    report = yield
    item.stash.setdefault(REPORTS, {})[report.when] = report
    return report


def artifacts_dir(config: pytest.Config) -> Path:
    return config.rootpath / ARTIFACTS


def save_screenshot(page: Page, directory: Path, test_name: str) -> Path:
    """A full-page PNG named after the test (characters a file name cannot hold become '_')."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (UNSAFE_IN_FILE_NAMES.sub("_", test_name) + ".png")
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One browser for a module's tests: starting chromium costs seconds on two busy cores."""
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(request: pytest.FixtureRequest, chromium: Browser) -> Iterator[Page]:
    """A page in its own browser context (no cookies or storage shared between tests)."""
    context = chromium.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    yield page
    report = request.node.stash.get(REPORTS, {}).get("call")
    if report is not None and report.failed:
        try:
            save_screenshot(page, artifacts_dir(request.config), request.node.name)
        except PlaywrightError as error:  # a crashed page: the test's own failure is what matters
            warnings.warn(f"no screenshot of {request.node.name}: {error}", stacklevel=1)
    context.close()
