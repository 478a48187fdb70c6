"""Devnet-only mock relayers: deliver L1->L2 and L2->L1 messenger messages between the mock messengers.

Each direction is a job (one op) and a sensor. The sensor only reads the warehouse (indexed
SentMessage rows neither delivered nor parked in the transaction ledger) and requests a run when
there is something to deliver; the job sends through the transaction sender, which makes
delivery exactly-once. A parked message does not fail the run (later messages went on; the
sender's ERROR line and the `no_parked_transactions` check are the alert); a retryable failure
does, and a later tick retries it.
"""

import dagster as dg
from sqlalchemy import Engine

from intmax_assets.defs.run_status import IN_FLIGHT_STATUSES
from intmax_assets.resources import ChainResource, WarehouseResource
from intmax_core.chain import fees
from intmax_core.chain.rpc import RpcClient
from intmax_core.chain.sender import SendPolicy, TransactionSender
from intmax_core.chain.signers import mock_messenger_signer
from intmax_core.config import Settings
from intmax_core.relaying import mock_relayers
from intmax_core.relaying.mock_relayers import L1_TO_L2, L2_TO_L1, RelayReport

SENSOR_INTERVAL_SECONDS = 15
# The originals' mock relayers bump gas by 0.2 per attempt (docs/protocol.md §2).
MOCK_RELAYER_STEP = fees.RELAYER_STEP
# Receipt wait of the originals' relayers (15 s in the processor, 30 s in the function services).
RECEIPT_TIMEOUT_SECONDS = 30.0


def _addresses(settings: Settings) -> dict[str, str]:
    names = ("l1_scroll_messenger_address", "l2_scroll_messenger_address", "liquidity_address")
    missing = [f"INTMAX_{n.upper()}" for n in names if not getattr(settings, n)]
    if missing:
        raise dg.Failure(f"the mock relayers need {', '.join(missing)}")
    return {n: getattr(settings, n) for n in names}


def _report(context: dg.OpExecutionContext, direction: str, report: RelayReport) -> None:
    context.add_output_metadata(
        {
            "relayed_nonces": str(report.relayed),
            "relayed": len(report.relayed),
            "already_executed": report.already_done,
            "parked": str(report.parked),
            "failed": str(report.failed),
        }
    )
    if report.failed:
        raise dg.Failure(f"{direction}: message delivery failed: {report.failed}")


def _pending(engine: Engine, purpose: str, chain_id: int, messenger: str, sender: str | None) -> list[int]:
    with engine.connect() as connection:
        return [
            m.message_nonce for m in mock_relayers.pending_messages(connection, purpose, chain_id, messenger, sender)
        ]


def _sender(settings: Settings, warehouse: WarehouseResource, chain: ChainResource, client: RpcClient, fee_mode: str):
    """The mock relayers' sender on `chain`: their own key, the originals' 0.2 gas step."""
    policy = SendPolicy(
        fee_mode=fee_mode,  # type: ignore[arg-type]
        gas_multiplier_step=MOCK_RELAYER_STEP,
        receipt_timeout_seconds=RECEIPT_TIMEOUT_SECONDS,
        max_fee_per_gas=chain.max_fee_per_gas_wei,
    )
    signer = mock_messenger_signer(settings)
    return TransactionSender(client, warehouse.engine, signer, chain.verified_chain_id(client), policy=policy)


def build_mock_relayers(settings: Settings) -> tuple[list[dg.JobDefinition], list[dg.SensorDefinition]]:
    @dg.op(required_resource_keys={"warehouse", "l1", "l2"}, tags={"intmax/network": "devnet"})
    def relay_l1_to_l2(context: dg.OpExecutionContext) -> None:
        """Deliver Liquidity's deposit batches from the L1 mock messenger to the L2 mock messenger."""
        warehouse, l1, l2 = context.resources.warehouse, context.resources.l1, context.resources.l2
        addresses = _addresses(settings)
        with l1.client() as l1_client, l2.client() as l2_client:
            report = mock_relayers.relay_l1_to_l2(
                warehouse.engine,
                _sender(settings, warehouse, l2, l2_client, "legacy"),  # L2 sends: legacy gas, as the originals
                l1_chain_id=l1.verified_chain_id(l1_client),
                l1_messenger=addresses["l1_scroll_messenger_address"],
                liquidity=addresses["liquidity_address"],
                l2_messenger=addresses["l2_scroll_messenger_address"],
            )
        _report(context, "L1->L2", report)

    @dg.op(required_resource_keys={"warehouse", "l1", "l2"}, tags={"intmax/network": "devnet"})
    def relay_l2_to_l1(context: dg.OpExecutionContext) -> None:
        """Deliver the Withdrawal contract's batches from the L2 mock messenger to the L1 mock messenger."""
        warehouse, l1, l2 = context.resources.warehouse, context.resources.l1, context.resources.l2
        addresses = _addresses(settings)
        with l1.client() as l1_client, l2.client() as l2_client:
            report = mock_relayers.relay_l2_to_l1(
                warehouse.engine,
                _sender(settings, warehouse, l1, l1_client, "eip1559"),
                l2_chain_id=l2.verified_chain_id(l2_client),
                l2_messenger=addresses["l2_scroll_messenger_address"],
                l1_messenger=addresses["l1_scroll_messenger_address"],
            )
        _report(context, "L2->L1", report)

    @dg.job(
        name="mock_l1_to_l2_relay",
        description="Devnet: deliver L1->L2 messages (deposit batches) to the L2 mock messenger.",
        executor_def=dg.in_process_executor,
    )
    def l1_to_l2_job() -> None:
        relay_l1_to_l2()

    @dg.job(
        name="mock_l2_to_l1_relay",
        description="Devnet: deliver L2->L1 messages (withdrawal batches) to the L1 mock messenger.",
        executor_def=dg.in_process_executor,
    )
    def l2_to_l1_job() -> None:
        relay_l2_to_l1()

    def pending_sensor(job: dg.JobDefinition, purpose: str, source_chain: str) -> dg.SensorDefinition:
        @dg.sensor(
            name=f"{job.name}_sensor",
            job=job,
            minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
            default_status=dg.DefaultSensorStatus.RUNNING,
            required_resource_keys={"warehouse", source_chain},
            description=f"Requests {job.name} when indexed messages wait for delivery.",
        )
        def _sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
            chain: ChainResource = getattr(context.resources, source_chain)
            addresses = _addresses(settings)
            messenger = addresses[f"{source_chain}_scroll_messenger_address"]
            sender = addresses["liquidity_address"] if source_chain == "l1" else None
            with chain.client() as client:
                chain_id = chain.verified_chain_id(client)
            nonces = _pending(context.resources.warehouse.engine, purpose, chain_id, messenger, sender)
            if not nonces:
                return dg.SkipReason("no message waiting")
            # No run key: a failed run's messages must be retried by a later run. Instead, never
            # start a second run while one is queued or running (the ledger also guards each send).
            active = context.instance.get_runs(
                filters=dg.RunsFilter(job_name=job.name, statuses=IN_FLIGHT_STATUSES), limit=1
            )
            if active:
                return dg.SkipReason(f"{job.name} is already queued or running")
            return dg.RunRequest(tags={"intmax/messages": f"{nonces[0]}-{nonces[-1]}"})

        return _sensor

    sensors = [pending_sensor(l1_to_l2_job, L1_TO_L2, "l1"), pending_sensor(l2_to_l1_job, L2_TO_L1, "l2")]
    return [l1_to_l2_job, l2_to_l1_job], sensors
