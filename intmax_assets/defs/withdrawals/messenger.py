"""The messenger relayer job: claim the L2->L1 withdrawal messages the Scroll bridge API lists.

Run by a schedule (INTMAX_MESSENGER_RELAYER_CRON, every minute by default) that skips a tick while
a run is in flight. On the devnet, INTMAX_L2_TO_L1_RELAYER chooses between this job against the
bridge API stand-in (`scroll_api`, the default, so the production path is what runs) and the
mock relayer that reads the indexed L2 messages (`mock`).
"""

import dagster as dg

from intmax_assets.defs.run_status import in_flight_runs
from intmax_assets.resources import ChainResource, WarehouseResource
from intmax_core.chain.sender import SendPolicy, TransactionSender
from intmax_core.chain.signers import SignerRole, signer_for_role
from intmax_core.config import Settings
from intmax_core.withdrawals.messenger_relayer import BridgeApi, BridgeApiError, relay_claimable

JOB_NAME = "relay_withdrawal_messages"
API_ATTEMPTS = 5
API_RETRY_PAUSE_SECONDS = 1.0
RECEIPT_TIMEOUT_SECONDS = 30.0


def build_messenger_relayer(settings: Settings) -> tuple[dg.JobDefinition, dg.ScheduleDefinition]:
    @dg.op(required_resource_keys={"warehouse", "l1"})
    def relay_withdrawal_messages_op(context: dg.OpExecutionContext) -> None:
        """relayMessageWithProof on L1 for every claimable Liquidity message the bridge API lists."""
        warehouse: WarehouseResource = context.resources.warehouse
        l1: ChainResource = context.resources.l1
        missing = [
            name
            for name, value in (
                ("INTMAX_SCROLL_BRIDGE_API_URL", settings.scroll_bridge_api_url),
                ("INTMAX_LIQUIDITY_ADDRESS", settings.liquidity_address),
                ("INTMAX_WITHDRAWAL_ADDRESS", settings.withdrawal_address),
                ("INTMAX_L1_SCROLL_MESSENGER_ADDRESS", settings.l1_scroll_messenger_address),
            )
            if not value
        ]
        if missing:
            raise dg.Failure(f"the messenger relayer needs {', '.join(missing)}")
        assert settings.scroll_bridge_api_url and settings.liquidity_address and settings.withdrawal_address
        assert settings.l1_scroll_messenger_address
        policy = SendPolicy(
            fee_mode="eip1559", receipt_timeout_seconds=RECEIPT_TIMEOUT_SECONDS, max_fee_per_gas=l1.max_fee_per_gas_wei
        )
        api = BridgeApi(
            settings.scroll_bridge_api_url, attempts=API_ATTEMPTS, retry_pause_seconds=API_RETRY_PAUSE_SECONDS
        )
        try:
            with l1.client() as client:
                sender = TransactionSender(
                    client,
                    warehouse.engine,
                    signer_for_role(settings, SignerRole.WITHDRAWAL_AGGREGATOR),
                    l1.verified_chain_id(client),
                    policy=policy,
                )
                report = relay_claimable(
                    api,
                    sender,
                    withdrawal_contract=settings.withdrawal_address,
                    liquidity=settings.liquidity_address,
                    l1_messenger=settings.l1_scroll_messenger_address,
                )
        except BridgeApiError as error:
            raise dg.Failure(str(error)) from None
        finally:
            api.close()
        context.add_output_metadata(
            {
                "listed": report.listed,
                "relayed": len(report.relayed),
                "already_relayed": report.already_done,
                "not_claimable": report.not_claimable,
                "parked": str(report.parked),
                "failed": str(report.failed),
            }
        )
        if report.failed:
            raise dg.Failure(f"some messages were not relayed (retried by the next run): {report.failed}")

    @dg.job(
        name=JOB_NAME,
        description="Claim L2->L1 withdrawal messages on L1 (relayMessageWithProof, wallet 2) from the bridge API.",
        executor_def=dg.in_process_executor,
        tags={"intmax/chain": "l1"},
    )
    def relay_job() -> None:
        relay_withdrawal_messages_op()

    @dg.schedule(
        name=f"{JOB_NAME}_schedule",
        job=relay_job,
        cron_schedule=settings.messenger_relayer_cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Claims the withdrawal messages the Scroll bridge API lists (INTMAX_MESSENGER_RELAYER_CRON).",
    )
    def relay_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        if in_flight_runs(context.instance, JOB_NAME):
            return dg.SkipReason(f"{JOB_NAME} is already queued or running")
        return dg.RunRequest()

    return relay_job, relay_schedule
