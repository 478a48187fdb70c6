"""The `token_maps` asset (group `tokens`) and the sensor that resolves new token indexes.

The asset calls intmax_core.tokens.token_map: every token index up to the highest seen in
deposits that is not yet resolved gets Liquidity.getTokenInfo and ERC20 symbol()/decimals()
through Multicall3. A token whose calls fail is recorded with its error and retried; an RPC
failure fails the run with nothing written.

The sensor reads only the warehouse: the deposits indexed since its cursor (by deposit id, an
indexed column, so a tick stays cheap as the table grows) and the unresolved rows. It requests a
run when a new index appears or a failed token's retry is due (1, 2, 4 ... minutes, at most an
hour), never while a token_maps run is queued or running. Its run key names the work (the pending
indexes with their attempt counts, numbered again when the same work ran before without changing
anything, e.g. the node was down), so a tick never requests the same work twice.
"""

# No `from __future__ import annotations`: Dagster reads the context and resource annotations at definition time.

import hashlib
import json
from datetime import UTC, datetime

import dagster as dg

from intmax_assets.defs.run_status import assets_in_flight
from intmax_assets.resources import ChainResource, WarehouseResource
from intmax_core.chain.rpc import RpcError, RpcUnavailable
from intmax_core.config import Settings
from intmax_core.tokens.multicall import MulticallError
from intmax_core.tokens.token_map import (
    due_for_retry,
    highest_seen_token_index,
    newest_deposit_id,
    pending_tokens,
    register_token_maps,
    retry_backoff,
)

TOKEN_MAPS = dg.AssetKey("token_maps")
SENSOR_INTERVAL_SECONDS = 30
WORK_TAG = "intmax/token_maps_work"
# Run keys longer than this name their work by a digest instead.
MAX_PLAIN_WORK_CHARS = 200


def _required(settings: Settings, name: str) -> str:
    value = getattr(settings, name)
    if not value:
        raise dg.Failure(f"token_maps needs INTMAX_{name.upper()}")
    return value


def build_token_maps(settings: Settings) -> tuple[dg.AssetsDefinition, dg.SensorDefinition]:
    @dg.asset(
        name="token_maps",
        group_name="tokens",
        kinds={"sql"},
        deps=[dg.AssetKey("deposits")],
        description="Every Liquidity token index seen in deposits: type, contract, token id, symbol, decimals "
        "(ETH seeded at index 0); tokens that fail to resolve are kept with their error and retried.",
    )
    def token_maps(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, l1: ChainResource
    ) -> dg.MaterializeResult:
        liquidity = _required(settings, "liquidity_address")
        with l1.client() as client:
            l1.verified_chain_id(client)
            try:
                report = register_token_maps(warehouse.engine, client, liquidity, settings.l1_multicall3_address)
            except (RpcError, RpcUnavailable, MulticallError) as error:
                # Nothing is known about any token: no row was written, none is marked failed.
                raise dg.Failure(f"reading token metadata on L1 failed, nothing written: {error}") from None
        for index, error in sorted(report.failed.items()):
            context.log.warning(f"token index {index} not resolved: {error}")
        context.log.info(f"token_maps: attempted {report.attempted}, resolved {report.resolved}")
        return dg.MaterializeResult(
            metadata={
                "resolved": report.resolved_total,
                "failed": report.unresolved_total,
                "total": report.total,
                "resolved_this_run": len(report.resolved),
                "failed_this_run": len(report.failed),
                "failures": dg.MetadataValue.json({str(i): e for i, e in sorted(report.failed.items())}),
            }
        )

    @dg.sensor(
        name="token_maps_sensor",
        asset_selection=[TOKEN_MAPS],
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Requests token_maps when deposits bring a new token index or a failed token's retry is due.",
    )
    def token_maps_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
        cursor = json.loads(context.cursor) if context.cursor else {"deposit_id": 0, "highest": None}
        with warehouse.engine.connect() as connection:
            newest = newest_deposit_id(connection) or 0
            if newest < cursor["deposit_id"]:  # deposits were rolled back (a reorg repair): look at all again
                cursor = {"deposit_id": 0, "highest": None}
            seen = highest_seen_token_index(connection, min_deposit_id=cursor["deposit_id"])
            highest = max((i for i in (seen, cursor["highest"]) if i is not None), default=None)
            pending = pending_tokens(connection, highest)
        new_cursor = json.dumps({"deposit_id": newest, "highest": highest})
        now = datetime.now(UTC)
        due = [token for token in pending if due_for_retry(token, now)]
        if not due:
            if pending:
                return _skip(new_cursor, f"{len(pending)} failed token(s) wait for their retry")
            return _skip(new_cursor, "every token index seen in deposits is resolved")
        if assets_in_flight(context.instance, [TOKEN_MAPS]):
            return _skip(new_cursor, "a token_maps run is already queued or running")
        work = ",".join(f"{t.token_index}#{t.attempts}" for t in due)
        if len(work) > MAX_PLAIN_WORK_CHARS:
            work = f"{len(due)} tokens " + hashlib.sha256(work.encode()).hexdigest()[:16]
        earlier = context.instance.get_run_records(filters=dg.RunsFilter(tags={WORK_TAG: work}), limit=100)
        if earlier:
            # The same work ran and changed nothing (the run failed as a whole): retry after a backoff.
            ended = earlier[0].end_time or earlier[0].update_timestamp.timestamp()
            wait = retry_backoff(len(earlier)).total_seconds() - (now.timestamp() - ended)
            if wait > 0:
                return _skip(new_cursor, f"{work}: run {len(earlier)} changed nothing; retrying in {wait:.0f} s")
        request = dg.RunRequest(
            run_key=f"token_maps:{work}" + (f"#{len(earlier)}" if earlier else ""),
            asset_selection=[TOKEN_MAPS],
            tags={WORK_TAG: work},
        )
        return dg.SensorResult(run_requests=[request], cursor=new_cursor)

    return token_maps, token_maps_sensor


def _skip(cursor: str, reason: str) -> dg.SensorResult:
    return dg.SensorResult(skip_reason=dg.SkipReason(reason), cursor=cursor)
