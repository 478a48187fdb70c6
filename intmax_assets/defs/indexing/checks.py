"""The indexing assets' checks: the stream audits of intmax_core.indexing.audits, as Dagster results."""

import dagster as dg

from intmax_core.config import Settings
from intmax_core.indexing.audits import StreamAuditor, Verdict
from intmax_core.indexing.streams import StreamSpec

DESCRIPTIONS = {
    "cursor_matches_chain": "The cursor's block hash is the chain's.",
    "no_missing_block_ranges": "Every block from the stream's start block to the highest indexed one is indexed.",
    "recent_blocks_canonical": "The newest stored block hashes (several, not only the tip) are the chain's.",
    "log_counts_match_chain": "Sampled blocks hold as many rows as the chain has logs of the stream.",
    "cursor_lag_blocks": "The cursor is close to the safe head (WARN, then ERROR, above the configured lags).",
    "deposit_ids_contiguous": "Deposit ids are exactly 1..n (verified incrementally from a watermark).",
}


def check_names(stream: StreamSpec) -> list[str]:
    names = [name for name in DESCRIPTIONS if name != "deposit_ids_contiguous"]
    return [*names, "deposit_ids_contiguous"] if stream.name == "l1_liquidity" else names


def check_specs(stream: StreamSpec, key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(name, asset=key, description=DESCRIPTIONS[name]) for name in check_names(stream)]


def check_results(auditor: StreamAuditor, settings: Settings, safe_head: int) -> list[dg.AssetCheckResult]:
    chain = auditor.stream.chain
    verdicts = [
        auditor.cursor_matches_chain(),
        auditor.no_missing_block_ranges(),
        auditor.recent_blocks_canonical(),
        auditor.log_counts_match_chain(),
        auditor.cursor_lag_blocks(
            safe_head,
            getattr(settings, f"{chain}_cursor_lag_warn_blocks"),
            getattr(settings, f"{chain}_cursor_lag_error_blocks"),
        ),
    ]
    if auditor.stream.name == "l1_liquidity":
        verdicts.append(auditor.deposit_ids_contiguous())
    return [_result(verdict) for verdict in verdicts]


def _result(verdict: Verdict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=verdict.check_name,
        passed=verdict.passed,
        severity=dg.AssetCheckSeverity(verdict.severity.value),
        description=verdict.message,
        metadata={**verdict.metadata, "message": verdict.message},
    )
