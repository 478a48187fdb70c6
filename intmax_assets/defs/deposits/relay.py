"""Deposit relaying: the `relay_deposits` job and the sensor that requests it.

The sensor reads only the warehouse (intmax_core.deposits.relay_backlog): final deposits not yet
relayed, and whether the relay policy says to go (enough deposits, or the oldest waited long
enough; both settings). Its run key names the work, the id range to relay; a run that did not
move it is retried under `#n` after a backoff, and no run starts while another relay run is in
flight. The job (intmax_core.deposits.relayer) reads the chain and sends through the transaction
sender, which is what makes each batch exactly-once across crashes and concurrent runs.
"""

from datetime import UTC, datetime

import dagster as dg

from intmax_assets.defs.run_status import in_flight_runs, prior_attempts
from intmax_assets.resources import ChainResource, WarehouseResource
from intmax_core.config import Settings
from intmax_core.deposits.relay_backlog import read_backlog
from intmax_core.deposits.relayer import DepositRelayer, RelayBlocked, deposit_relayer_sender, relay_fee_wei

JOB_NAME = "relay_deposits"
SENSOR_INTERVAL_SECONDS = 30
RELAY_WORK_TAG = "intmax/relay_work"


def _liquidity(settings: Settings) -> str:
    if not settings.liquidity_address:
        raise dg.Failure("deposit relaying needs INTMAX_LIQUIDITY_ADDRESS")
    return settings.liquidity_address


def build_deposit_relay(settings: Settings) -> tuple[dg.JobDefinition, dg.SensorDefinition]:
    @dg.op(required_resource_keys={"warehouse", "l1"})
    def relay_deposits_op(context: dg.OpExecutionContext) -> None:
        """relayDeposits for every final deposit not yet relayed, in batches of at most 450 ids."""
        warehouse: WarehouseResource = context.resources.warehouse
        l1: ChainResource = context.resources.l1
        with l1.client() as client:
            sender = deposit_relayer_sender(settings, client, warehouse.engine, l1.verified_chain_id(client))
            relayer = DepositRelayer(
                client, warehouse.engine, sender, liquidity=_liquidity(settings), fee_wei=relay_fee_wei(settings)
            )
            try:
                report = relayer.run()
            except RelayBlocked as blocked:
                raise dg.Failure(str(blocked)) from None
        context.add_output_metadata(
            {
                "batches_sent": sum(1 for _, o in report.sent if o.status.value == "confirmed"),
                "batches_already_relayed": sum(1 for _, o in report.sent if o.status.value == "settled"),
                "batches_resumed": len(report.resumed),
                "deposits_relayed": report.relayed_deposits,
                "last_relayed_deposit_id": report.last_relayed_after or 0,
                "last_final_deposit_id": report.last_final_deposit_id,
                "up_to_ids": str([batch.up_to_deposit_id for batch, _ in report.sent]),
            }
        )

    @dg.job(
        name=JOB_NAME,
        description="Relay final L1 deposits to the L2 Rollup (Liquidity.relayDeposits, wallet 1).",
        executor_def=dg.in_process_executor,
        tags={"intmax/chain": "l1"},
    )
    def relay_job() -> None:
        relay_deposits_op()

    @dg.sensor(
        name="deposit_relay_sensor",
        job=relay_job,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys={"warehouse"},
        description="Requests relay_deposits when final deposits wait and the relay policy says go.",
    )
    def deposit_relay_sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        if not settings.liquidity_address:
            return dg.SkipReason("INTMAX_LIQUIDITY_ADDRESS is not set")
        warehouse: WarehouseResource = context.resources.warehouse
        with warehouse.engine.connect() as connection:
            backlog = read_backlog(connection, settings.liquidity_address)
        if backlog.parked_key is not None:
            return dg.SkipReason(
                f"deposit relay {backlog.parked_key} is parked: it waits for an operator (intmax tx requeue)"
            )
        reason = backlog.due(
            datetime.now(UTC), settings.deposit_relay_min_deposits, settings.deposit_relay_max_wait_seconds
        )
        if reason is None:
            return dg.SkipReason(f"{backlog.pending} deposits waiting; the relay policy says wait")
        if in_flight_runs(context.instance, JOB_NAME):
            return dg.SkipReason(f"{JOB_NAME} is already queued or running")
        attempts = prior_attempts(context.instance, RELAY_WORK_TAG, backlog.work)
        if attempts.wait_seconds > 0:
            return dg.SkipReason(
                f"deposits {backlog.work}: attempt {attempts.count} did not relay them; "
                f"retrying in {attempts.wait_seconds:.0f} s"
            )
        context.log.info(f"relay due: {reason}")
        return dg.RunRequest(run_key=attempts.run_key(f"relay:{backlog.work}"), tags={RELAY_WORK_TAG: backlog.work})

    return relay_job, deposit_relay_sensor
