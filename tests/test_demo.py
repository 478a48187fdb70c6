"""`intmax demo` as an operator runs it: a real process starting the whole embedded stack (devnet,
stand-ins, API, `dagster dev`), a shorter plan than the default, and its narration read back.

It must see every stage of the life cycle, each with its asset, the Dagster run that did it and an
API URL; exit 0 only then; name the stage it missed otherwise; and leave nothing running.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from intmax_cli.demo import DEFAULT_DEADLINES
from intmax_devnet.anvil import free_port
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.xdist_group("demo")

# A shorter life cycle than the default plan's (20 deposits, 10 withdrawals, 3 builders): fewer
# transactions to simulate, index and relay. Seed 2 on a fresh devnet requests a withdrawal in a
# token Liquidity does not pay directly, so the claim stage can happen (the demo refuses otherwise).
SHORT_PLAN = [
    "--seed",
    "2",
    "--users",
    "2",
    "--deposits",
    "4",
    "--withdrawals",
    "3",
    "--builders",
    "1",
    "--blocks",
    "1",
]
# The demo's own budget is 280 s on a quiet machine; on CI's two cores it shares the machine with
# other test workers, whose processes slow every Dagster run's start: deadlines and budget x2.5.
PATIENCE = ["--patience", "2.5"]
DEMO_TIMEOUT_SECONDS = 900
STOP_TIMEOUT_SECONDS = 90
STAGE_TITLES = {
    "deposits-made": "deposits made",
    "deposits-relayed": "deposits relayed",
    "deposits-processed": "deposits processed on L2",
    "withdrawals-requested": "withdrawals requested",
    "withdrawals-grouped": "withdrawals grouped",
    "withdrawals-proven": "withdrawals proven",
    "withdrawals-submitted": "withdrawals submitted on L2",
    "withdrawals-relayed": "withdrawals relayed on L1",
    "withdrawals-paid": "withdrawals paid or claimable",
    "withdrawal-claimed": "withdrawal claimed",
    "builders-heartbeating": "builders heartbeating",
    "builders-judged": "builders judged",
    "prices-synced": "prices synced",
}
RUN_URL = re.compile(r"run: \S+ [0-9a-f]{8} http://127\.0\.0\.1:(\d+)/runs/[0-9a-f-]{36}")


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _demo(*args: str, api_port: int, dagster_port: int, timeout: float = DEMO_TIMEOUT_SECONDS) -> str:
    """Run `intmax demo` to its end; return its output (stdout then stderr) after checking its ports are free."""
    # Nothing of the test session's configuration leaks in: the demo builds its own from nothing.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTMAX_", "DAGSTER_"))}
    command = [sys.executable, "-m", "intmax_cli.main", "demo", "--api-port", str(api_port)]
    command += ["--dagster-port", str(dagster_port), *args]
    demo = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stdout, stderr = demo.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGTERM, as an operator's Ctrl-C: the demo stops the API, Dagster and the devnet it started
        # (a SIGKILL would leave them running, holding their ports).
        demo.send_signal(signal.SIGTERM)
        stdout, stderr = demo.communicate(timeout=STOP_TIMEOUT_SECONDS)
        raise AssertionError(f"intmax demo ran past {timeout} s:\n{stdout[-6000:]}\n{stderr[-3000:]}") from None
    output = stdout + "\n--- stderr\n" + stderr
    # Whatever the outcome, the demo stopped what it started.
    assert not _port_in_use(api_port) and not _port_in_use(dagster_port), output
    return f"exit {demo.returncode}\n{output}"


@pytest.fixture
def ports() -> Iterator[tuple[int, int]]:
    yield free_port(), free_port()


def _stage_lines(output: str) -> dict[str, tuple[str, str]]:
    """Stage title -> (its narration line, the line after it: asset | run | API)."""
    lines = output.splitlines()
    found = {}
    for index, line in enumerate(lines[:-1]):
        match = re.match(r"\s*\+\d+m\d\ds  ([^:]+): ", line)
        if match and match.group(1) in STAGE_TITLES.values():
            found[match.group(1)] = (line, lines[index + 1])
    return found


@pytest.mark.timeout(DEMO_TIMEOUT_SECONDS + STOP_TIMEOUT_SECONDS + 30)
def test_the_demo_observes_every_stage_with_its_asset_run_and_api_url(ports: tuple[int, int]) -> None:
    api_port, dagster_port = ports
    output = _demo(*SHORT_PLAN, *PATIENCE, api_port=api_port, dagster_port=dagster_port)
    assert output.startswith("exit 0\n"), output[-6000:]
    assert set(STAGE_TITLES) == set(DEFAULT_DEADLINES) - {"stack-up"}  # a new stage gets a title here
    stages = _stage_lines(output)
    missing = set(STAGE_TITLES.values()) - set(stages)
    assert not missing, f"not narrated: {missing}\n{output[-6000:]}"
    assert f"every stage observed ({len(STAGE_TITLES)})" in output
    # What only finished stages needed is switched off through Dagster's API, schedules and sensors alike.
    assert "switched off schedule block_builder_health_schedule (STOPPED)" in output
    assert "switched off sensor deposits_refresh_sensor (STOPPED)" in output
    for title, (_line, origin) in stages.items():
        assert "asset: " in origin and f"API: http://127.0.0.1:{api_port}/v1/" in origin, (title, origin)
        if title != "withdrawals requested":  # the one stage no Dagster run does (the simulator writes it)
            run = RUN_URL.search(origin)
            assert run and int(run.group(1)) == dagster_port, (title, origin)
    # Each track in its order: a stage is never narrated before the one it follows.
    positions = {title: output.index(line) for title, (line, _origin) in stages.items()}
    for track in (
        ["deposits made", "deposits relayed", "deposits processed on L2"],
        ["withdrawals requested", "withdrawals grouped", "withdrawals proven", "withdrawals submitted on L2"],
        ["withdrawals relayed on L1", "withdrawals paid or claimable", "withdrawal claimed"],
        ["builders heartbeating", "builders judged"],
    ):
        assert [positions[title] for title in track] == sorted(positions[title] for title in track), track
    took = re.search(r"intmax demo: took (\d+) s", output)
    assert took, output[-2000:]
    print(f"\nintmax demo (short plan) took {took.group(1)} s")


@pytest.mark.timeout(DEMO_TIMEOUT_SECONDS + STOP_TIMEOUT_SECONDS + 30)
def test_a_stage_missing_its_deadline_fails_the_demo_naming_it(ports: tuple[int, int]) -> None:
    # The devnet, the API and Dagster are started, but Dagster cannot load the code location within
    # one second: the demo must fail naming the stage and still stop all three (the ports are checked).
    # (A later stage would cost CI's two cores another two minutes of a whole stack for the same check.)
    api_port, dagster_port = ports
    output = _demo(*SHORT_PLAN, "--deadline", "stack-up=1", api_port=api_port, dagster_port=dagster_port)
    assert output.startswith("exit 1\n"), output[-6000:]
    assert "FAILED: stage 'stack up' (stack-up) was not observed within 1 s" in output
    assert "devnet up" in output and "stopped the API, Dagster and the devnet" in output
    assert "every stage observed" not in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--deadline", "withdrawals-teleported=5"], "unknown stage 'withdrawals-teleported'"),
        (["--deadline", "prices-synced=-1"], "SECONDS must be positive"),
        (["--withdrawals", "0"], "needs --deposits, --withdrawals and --builders >= 1"),
        (["--patience", "0.5"], "--patience must be at least 1"),
    ],
)
def test_bad_options_exit_2_naming_the_option_before_starting_anything(
    ports: tuple[int, int], args: list[str], message: str
) -> None:
    output = _demo(*args, api_port=ports[0], dagster_port=ports[1], timeout=60)
    assert output.startswith("exit 2\n") and message in output, output
    assert "devnet up" not in output


def test_a_taken_port_is_refused_before_starting_anything(ports: tuple[int, int]) -> None:
    api_port, dagster_port = ports
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", dagster_port))
        taken.listen()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("INTMAX_", "DAGSTER_"))}
        command = [sys.executable, "-m", "intmax_cli.main", "demo", "--api-port", str(api_port)]
        command += ["--dagster-port", str(dagster_port)]
        result = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and f"--dagster-port {dagster_port}: port is not free" in result.stderr
