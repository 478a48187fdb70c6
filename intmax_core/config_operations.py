"""Settings of the builders, monitors, alerts, the indexer and predicate APIs, and the schedules.

A mixin of `Settings` (config.py), kept apart so that each module stays about one concern; the
variables are INTMAX_-prefixed like every other and listed in `.env.example`.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode

from intmax_core.cron import parse_cron

ADDRESS_PATTERN = re.compile(r"^0x[0-9a-fA-F]{40}$")
SEMVER_PATTERN = re.compile(r"^\d+\.\d+\.\d+$")
BuilderSelectionMode = Literal["RANDOM", "ALLOWLIST_ONLY", "ALLOWLIST_PRIORITY", "GUARANTEED_ALLOWLIST"]


class OperationsSettings(BaseSettings):
    # --- block builders (health checks and selection) -----------------------------------------
    block_builder_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Builders that skip the /fee-info checks and that the selection modes favour: a JSON array or a "
        "comma list of addresses (compared lowercase).",
    )
    block_builder_min_eth_balance: Decimal = Field(
        Decimal("0.01"),
        ge=0,
        description="A builder needs strictly more L2 ETH than this to be active (allowlisted ones too).",
    )
    block_builder_required_version: str = Field(
        "0.1.0", description="Lowest builder version (semver x.y.z) accepted from /fee-info; /v1/proxy/meta minVersion."
    )
    block_builder_allowed_token_indices: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [0, 1, 2],
        description="Token indexes a builder may charge fees in (comma list; 0 ETH, 1 ITX, 2 WBTC, 3 USDC).",
    )
    block_builder_max_fee_amount: int = Field(
        2_500_000_000_000, ge=0, description="Largest fee amount a builder may ask; /v1/proxy/meta maxFee."
    )
    block_builder_indexer_count: int = Field(3, ge=1, description="Builders returned by GET /v1/indexer/builders.")
    block_builder_min_allowlist_count: int = Field(
        1, ge=0, description="GUARANTEED_ALLOWLIST: allowlisted builders always included (if that many are active)."
    )
    allowlist_block_builder_possibilities: float = Field(
        0.5, ge=0, le=1, description="ALLOWLIST_PRIORITY: probability of answering with an allowlisted builder."
    )
    builder_selection_mode: BuilderSelectionMode = Field(
        "GUARANTEED_ALLOWLIST",
        description="How GET /v1/indexer/builders picks: RANDOM | ALLOWLIST_ONLY | ALLOWLIST_PRIORITY | "
        "GUARANTEED_ALLOWLIST (the default: what the original ran; with an empty allowlist it equals RANDOM).",
    )
    l2_multicall3_address: str = Field(
        "0xca11bde05977b3631167028862be2a173976ca11",
        pattern=r"^0x[0-9a-fA-F]{40}$",
        description="Multicall3 on L2 (builders' ETH balances); the canonical address (deployed on Scroll) by "
        "default, the devnet's from its manifest.",
    )
    builder_require_https: bool = Field(
        True, description="Builders must announce an https:// URL; the devnet manifest relaxes it for its stand-ins."
    )
    builder_heartbeat_max_age_hours: float = Field(
        24, gt=0, description="A builder whose latest heartbeat is older than this is inactive."
    )
    builder_fee_info_timeout_seconds: float = Field(5.0, gt=0, description="Timeout of one GET {url}/fee-info.")
    builder_fee_info_attempts: int = Field(3, ge=1, description="Attempts of GET {url}/fee-info, 1 s apart.")
    builder_check_concurrency: int = Field(
        30, ge=1, description="Builders checked at the same time (the original's batches of 30)."
    )
    builder_health_cron: str = Field(
        "* * * * *", description="When block_builder_health re-checks every builder (five-field cron, UTC)."
    )
    builder_cache_validation_seconds: float = Field(
        10.0, gt=0, description="How often the API re-checks the builders of the cached /v1/indexer/builders list."
    )

    # --- /v1/proxy/meta ------------------------------------------------------------------------
    builder_target_network: str | None = Field(
        None, description="/v1/proxy/meta targetNetwork (devnet/testnet/mainnet); unset = INTMAX_NETWORK."
    )
    block_builder_version: str = Field("0.1.0", description="/v1/proxy/meta version: the builder release to run.")
    proxy_domain: str = Field("", description="/v1/proxy/meta domain: the builders' proxy domain.")
    proxy_frp_token: SecretStr | None = Field(
        None,
        description="/v1/proxy/meta token: the FRP token (a secret; served only if INTMAX_PROXY_FRP_TOKEN_PUBLIC).",
    )
    proxy_frp_token_public: bool = Field(
        False,
        description="Serve the FRP token in /v1/proxy/meta (the original always did; only if its owners confirm it is "
        "meant to be public). Otherwise the field is an empty string.",
    )

    # --- monitors ------------------------------------------------------------------------------
    validity_prover_url: str | None = Field(
        None, description="Validity prover base URL (GET /block-number); the devnet manifest sets its stand-in."
    )
    block_sync_max_difference: int = Field(
        3, ge=1, description="The validity prover lags the Rollup too far when rollup - prover >= this (strict)."
    )
    block_sync_cron: str = Field("*/5 * * * *", description="When the block-sync monitor runs (cron, UTC).")
    wallet_required_eth_balance: Decimal = Field(
        Decimal("0.5"), ge=0, description="Operational wallets need strictly more ETH than this."
    )
    wallet_required_eth_min_balance: Decimal = Field(
        Decimal("0.1"), ge=0, description="...and the builder-reward and token-manager wallets more than this."
    )
    use_mock_wallet_observer: bool = Field(
        False, description="Also watch the mock relayers' wallet on both chains (the devnet manifest sets it)."
    )
    wallet_observer_cron: str = Field("*/15 * * * *", description="When the wallet observer runs (cron, UTC).")

    # --- alerts --------------------------------------------------------------------------------
    alert_webhook_url: SecretStr | None = Field(
        None, description="Discord webhook URL the alerts are posted to (a secret); unset = alerts are only logged."
    )
    alert_app_target: str = Field(
        "intmax-pipeline", description="The [APP_TARGET] of every alert text: which deployment speaks."
    )
    alert_suppress_seconds: float = Field(
        3600, ge=0, description="An alert identical to one sent less than this long ago is not sent again."
    )

    # --- predicate API -------------------------------------------------------------------------
    predicate_api_url: str | None = Field(
        None, description="Predicate policy evaluation URL (POST); the devnet manifest sets its stand-in."
    )
    predicate_api_key: SecretStr | None = Field(None, description="Predicate API key (x-api-key header; a secret).")
    predicate_timeout_seconds: float = Field(10.0, gt=0, description="Timeout of one Predicate API request.")

    # --- cadences of the other periodic jobs --------------------------------------------------
    transaction_ledger_cron: str = Field(
        "*/5 * * * *", description="When the transaction ledger summary is refreshed (cron, UTC)."
    )
    tx_map_cleaner_cron: str = Field("*/15 * * * *", description="When expired tx-map entries are deleted (cron, UTC).")
    daily_stats_cron: str = Field(
        "10 * * * *", description="When the daily statistics refresh today's partition (cron, UTC; hourly by default)."
    )
    token_prices_freshness_cron: str = Field(
        "*/15 * * * *", description="When the token price list's freshness check runs (cron, UTC)."
    )

    @field_validator("block_builder_allowlist", mode="before")
    @classmethod
    def _split_allowlist(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    return json.loads(text)
                except ValueError:
                    raise ValueError("must be a JSON array or a comma list of addresses") from None
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("block_builder_allowlist")
    @classmethod
    def _check_allowlist(cls, addresses: list[str]) -> list[str]:
        for address in addresses:
            if not ADDRESS_PATTERN.match(address):
                raise ValueError("each entry must be a 0x-prefixed 20-byte hex address")
        return [address.lower() for address in addresses]

    @field_validator("block_builder_allowed_token_indices", mode="before")
    @classmethod
    def _split_token_indices(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("block_builder_required_version", "block_builder_version")
    @classmethod
    def _check_semver(cls, value: str) -> str:
        if not SEMVER_PATTERN.match(value):
            raise ValueError("must be a version x.y.z")
        return value

    @field_validator("validity_prover_url", "predicate_api_url")
    @classmethod
    def _check_service_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"must be an http(s):// URL with a host (got scheme {parsed.scheme!r})")
        return value.rstrip("/")

    @field_validator("alert_webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        parsed = urlparse(value.get_secret_value())
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            # The URL is the secret (its path holds the webhook token): never echo it.
            raise ValueError("must be an http(s):// URL with a host")
        return value

    @field_validator(
        "builder_health_cron",
        "block_sync_cron",
        "wallet_observer_cron",
        "transaction_ledger_cron",
        "tx_map_cleaner_cron",
        "daily_stats_cron",
        "token_prices_freshness_cron",
    )
    @classmethod
    def _check_operations_cron(cls, value: str) -> str:
        parse_cron(value)
        return value
