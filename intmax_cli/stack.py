"""What `intmax up` and `intmax demo` share: the embedded stack's long-lived children (API and
`dagster dev`) and where the API answers with the devnet's simulated activity."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from intmax_cli import processes
from intmax_core.config import Settings

if TYPE_CHECKING:  # the devnet is imported only by the commands that use it
    from intmax_devnet.simulator import SimulationReport


def pipeline_commands(dagster_port: int) -> dict[str, list[str]]:
    """The API (port and everything else from the INTMAX_* settings) and Dagster's UI + daemon."""
    return {
        "api": [sys.executable, "-m", "intmax_cli.main", "api"],
        "dagster": processes.dagster_dev_command(dagster_port),
    }


def api_base_url(settings: Settings) -> str:
    return f"http://{settings.api_host}:{settings.api_port}/v1"


def routes_to_try(settings: Settings, report: SimulationReport) -> str:
    """Routes that answer with the simulated activity once the pipeline has processed it."""
    from intmax_devnet import accounts

    api = api_base_url(settings)
    routes = [
        "/indexer/builders",
        "/indexer/builders/meta",
        f"/indexer/builders/registration/{accounts.builder(0).address}",
        "/proxy/meta",
        "/time",
        "/token-maps/list",
        "/token-prices/list",
    ]
    routes += [f"/deposits/{report.deposit_ids[0]}"] if report.deposit_ids else []
    routes += [f"/withdrawals/{report.withdrawal_hashes[0]}"] if report.withdrawal_hashes else []
    lines = [f"  {api}{route}" for route in routes]
    lines.append(f'  curl -X POST {api}/map -H \'content-type: application/json\' -d \'{{"digest":"d1","data":"x"}}\'')
    policy = {"from": accounts.user(0).address, "to": accounts.user(1).address, "data": "0x", "msg_value": "0"}
    body = json.dumps(policy, separators=(",", ":"))
    lines.append(f"  curl -X POST {api}/predicate/evaluate-policy -H 'content-type: application/json' -d '{body}'")
    return "\n".join(
        ["routes with this data (within a minute or two, as the schedules and sensors process it):", *lines]
    )
