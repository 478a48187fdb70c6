"""Proving and submitting withdrawal groups: the `process_withdrawal_group` job and its sensor.

The sensor requests one run per live group (collected, or left proving/submitting by a run that
ended), never a second one while a run for the group is queued or running (the run's tag names the
group). The run key is the group and its proving attempt: a run that ends without moving the
group on is retried under `#n` after a backoff. Proving steps share the `withdrawal_proving` pool
(default limit 2: the prover is the scarce resource). Runs that fail (an RPC outage, a submission
whose outcome is not known yet) are retried by Dagster with backoff and alert as failed runs.
"""

import dagster as dg
import pydantic
from sqlalchemy import select

from intmax_assets.defs.run_status import in_flight_runs, prior_attempts
from intmax_assets.resources import ChainResource, WarehouseResource
from intmax_core.chain.errors import ErrorRegistry
from intmax_core.chain.fees import RELAYER_STEP
from intmax_core.chain.sender import SendPolicy, TransactionSender
from intmax_core.chain.signers import SignerRole, signer_for_role
from intmax_core.config import Settings
from intmax_core.warehouse.aggregator_tables import LIVE_STATUSES, withdrawal_groups
from intmax_core.withdrawals.processor import GroupBlocked, GroupProcessor
from intmax_core.withdrawals.prover_client import ProverBudget, ProverClient

JOB_NAME = "process_withdrawal_group"
GROUP_TAG = "intmax/withdrawal_group"
GROUP_WORK_TAG = "intmax/withdrawal_group_attempt"
SENSOR_INTERVAL_SECONDS = 15
# Live groups the sensor looks at per tick, oldest first; more wait for the next ticks.
GROUPS_PER_TICK = 20
# The withdrawal processor's receipt wait in the originals (15 s), with their 0.2 gas step.
RECEIPT_TIMEOUT_SECONDS = 15.0
# Reverts of submitWithdrawalProof worth naming in the ledger (docs/protocol.md §8.3).
WITHDRAWAL_ERRORS = ErrorRegistry.from_signatures(
    "WithdrawalChainVerificationFailed()",
    "WithdrawalAggregatorMismatch()",
    "WithdrawalProofVerificationFailed()",
    "BlockHashNotExists(bytes32)",
    "BlockNumberOutOfRange()",
    "RelayLimitExceeded()",
)


class GroupConfig(dg.Config):
    group_id: str = pydantic.Field(description="The withdrawal group to prove and submit.")


def build_processing(settings: Settings) -> tuple[dg.JobDefinition, dg.SensorDefinition]:
    @dg.op(
        required_resource_keys={"warehouse", "l2"},
        pool="withdrawal_proving",
        retry_policy=dg.RetryPolicy(max_retries=3, delay=10, backoff=dg.Backoff.EXPONENTIAL),
    )
    def prove_and_submit_group(context: dg.OpExecutionContext, config: GroupConfig) -> None:
        """Chain, wrapper and gnark proofs for the group's withdrawals, then submitWithdrawalProof on L2."""
        warehouse: WarehouseResource = context.resources.warehouse
        l2: ChainResource = context.resources.l2
        if not settings.zkp_prover_url or not settings.withdrawal_address:
            raise dg.Failure("withdrawal processing needs INTMAX_ZKP_PROVER_URL and INTMAX_WITHDRAWAL_ADDRESS")
        budget = ProverBudget(
            poll_interval_seconds=settings.withdrawal_proof_poll_interval_seconds,
            stage_timeout_seconds=settings.withdrawal_proof_stage_timeout_seconds,
        )
        policy = SendPolicy(
            fee_mode="legacy",
            gas_multiplier_step=RELAYER_STEP,
            receipt_timeout_seconds=RECEIPT_TIMEOUT_SECONDS,
            max_fee_per_gas=l2.max_fee_per_gas_wei,
        )
        with l2.client() as client, ProverClient(settings.zkp_prover_url, budget) as prover:
            sender = TransactionSender(
                client,
                warehouse.engine,
                signer_for_role(settings, SignerRole.WITHDRAWAL_AGGREGATOR),
                l2.verified_chain_id(client),
                policy=policy,
                errors=WITHDRAWAL_ERRORS,
            )
            processor = GroupProcessor(
                warehouse.engine,
                prover,
                sender,
                withdrawal_contract=settings.withdrawal_address,
                verifier_data=settings.gnark_verifier_data,
            )
            try:
                result = processor.process(config.group_id)
            except GroupBlocked as blocked:
                raise dg.Failure(str(blocked)) from None
        context.log.info(f"group {result.group_id}: {result.status.value} {result.detail}")
        context.add_output_metadata(
            {"group_id": result.group_id, "status": result.status.value, "submitted": len(result.submitted)}
        )

    @dg.job(
        name=JOB_NAME,
        description="Prove a withdrawal group (chain, wrapper, gnark) and submit it on L2 (wallet 2).",
        executor_def=dg.in_process_executor,
        tags={"intmax/chain": "l2"},
    )
    def process_group_job() -> None:
        prove_and_submit_group()

    @dg.sensor(
        name="withdrawal_group_sensor",
        job=process_group_job,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        required_resource_keys={"warehouse"},
        description="Requests one proving run per live withdrawal group; never two for one group.",
    )
    def withdrawal_group_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        warehouse: WarehouseResource = context.resources.warehouse
        with warehouse.engine.connect() as connection:
            groups = connection.execute(
                select(withdrawal_groups.c.group_id, withdrawal_groups.c.attempt)
                .where(withdrawal_groups.c.status.in_(LIVE_STATUSES))
                .order_by(withdrawal_groups.c.created_at, withdrawal_groups.c.group_id)
                .limit(GROUPS_PER_TICK)
            ).all()
        if not groups:
            return dg.SkipReason("no live withdrawal group")
        busy = {run.tags.get(GROUP_TAG) for run in in_flight_runs(context.instance, JOB_NAME)}
        requests, waiting = [], []
        for group_id, attempt in groups:
            if group_id in busy:
                continue
            work = f"{group_id}@{attempt}"
            attempts = prior_attempts(context.instance, GROUP_WORK_TAG, work)
            if attempts.wait_seconds > 0 or attempts.last_succeeded:
                waiting.append(group_id)
                continue
            requests.append(
                dg.RunRequest(
                    run_key=attempts.run_key(f"group:{work}"),
                    run_config=dg.RunConfig(ops={"prove_and_submit_group": GroupConfig(group_id=group_id)}),
                    tags={GROUP_TAG: group_id, GROUP_WORK_TAG: work},
                )
            )
        if not requests:
            return dg.SkipReason(f"{len(groups)} live groups: in flight or waiting to retry ({len(waiting)})")
        return dg.SensorResult(run_requests=requests)

    return process_group_job, withdrawal_group_sensor
