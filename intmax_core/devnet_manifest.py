"""The devnet deployment manifest (`<data_dir>/devnet.json`), written by `intmax devnet up`.

It lives in core because the settings read it: when no chain is configured explicitly, the
pipeline runs against the local devnet it describes.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_FILE = "devnet.json"
MANIFEST_VERSION = 1
# anvil suggests fees from recent tips, which on a devnet are the pipeline's own: without a
# ceiling the originals' fee formulas compound with every transaction (see SendPolicy).
DEVNET_DEPOSIT_RELAY_MAX_WAIT_SECONDS = 15
DEVNET_PROOF_POLL_INTERVAL_SECONDS = 0.2
DEVNET_MAX_FEE_PER_GAS_GWEI = 100
DEVNET_COINGECKO_BATCH_PAUSE_SECONDS = 0.0
# The devnet stand-ins' fixed "secrets": devnet-only values, public by design. The webhook sink
# accepts any token; the Predicate stand-in accepts only this key (so a wrong key is testable).
DEVNET_PREDICATE_API_KEY = "devnet-predicate-key"
DEVNET_ALERT_WEBHOOK_PATH = "/webhooks/devnet/devnet-token"
# Where the Predicate stand-in serves its one endpoint (the real API's URL is configured whole).
PREDICATE_TASK_PATH = "/v1/task"
# The stand-ins a manifest may list, in start order; each is a ServiceEntry field (None when absent).
SERVICE_KEYS = (
    "coingecko",
    "scroll_bridge",
    "prover_gateway",
    "builder_nodes",
    "validity_prover",
    "predicate",
    "webhook_sink",
)

# Manifest contract keys that have a `<key>_address` / `<key>_deployed_block` setting.
CONFIGURED_CONTRACTS = (
    "liquidity",
    "l1_scroll_messenger",
    "minter",
    "rollup",
    "withdrawal",
    "block_builder_registry",
    "l2_scroll_messenger",
)


@dataclass(frozen=True)
class ChainEntry:
    name: str
    chain_id: int
    rpc_url: str
    pid: int
    log_path: str


@dataclass(frozen=True)
class ServiceEntry:
    """A devnet stand-in for an external HTTP service (e.g. the CoinGecko API)."""

    name: str
    url: str
    pid: int
    log_path: str


@dataclass(frozen=True)
class ContractEntry:
    chain: str  # "l1" | "l2"
    contract: str  # artifact name
    address: str  # lowercase
    block_number: int  # deployment block


@dataclass(frozen=True)
class DevnetManifest:
    l1: ChainEntry
    l2: ChainEntry
    contracts: dict[str, ContractEntry]
    # role -> lowercase address (builder, deposit_analyzer, withdrawal_aggregator, ...)
    accounts: dict[str, str]
    # Anvil's public development mnemonic and a key derived from it: devnet-only, never real funds.
    owner_mnemonic: str
    mock_messenger_private_key: str
    prover_address: str
    confirmations: int = 0
    # The CoinGecko stand-in; None in manifests written before it existed.
    coingecko: ServiceEntry | None = None
    # The Scroll bridge API stand-in (unclaimed L2->L1 messages); None in manifests before it existed.
    scroll_bridge: ServiceEntry | None = None
    # The prover gateway stand-in (ZKP_PROVER_URL); None in manifests written before it existed.
    prover_gateway: ServiceEntry | None = None
    # One process serving every simulated builder's GET /fee-info at {url}/builders/{i}.
    builder_nodes: ServiceEntry | None = None
    # The validity prover's GET /block-number, following the devnet Rollup.
    validity_prover: ServiceEntry | None = None
    # The Predicate API (POST {url}/v1/task with the devnet key).
    predicate: ServiceEntry | None = None
    # A Discord-style webhook receiver: where the devnet's alerts go.
    webhook_sink: ServiceEntry | None = None
    version: int = MANIFEST_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def services(self) -> list[ServiceEntry]:
        """The stand-ins this manifest lists, in start order."""
        entries = (getattr(self, key) for key in SERVICE_KEYS)
        return [entry for entry in entries if entry is not None]

    def settings_values(self) -> dict[str, Any]:
        """The values this manifest gives to Settings fields."""
        values: dict[str, Any] = {
            "l1_rpc_urls": [self.l1.rpc_url],
            "l2_rpc_urls": [self.l2.rpc_url],
            "l1_chain_id": self.l1.chain_id,
            "l2_chain_id": self.l2.chain_id,
            "l1_confirmations": self.confirmations,
            "l2_confirmations": self.confirmations,
            "owner_mnemonic": self.owner_mnemonic,
            "mock_messenger_private_key": self.mock_messenger_private_key,
            "l1_max_fee_per_gas_gwei": DEVNET_MAX_FEE_PER_GAS_GWEI,
            "l2_max_fee_per_gas_gwei": DEVNET_MAX_FEE_PER_GAS_GWEI,
            # Relay simulated deposits within seconds, not the production 10 minutes.
            "deposit_relay_max_wait_seconds": DEVNET_DEPOSIT_RELAY_MAX_WAIT_SECONDS,
            # The stand-in prover answers in well under a second: poll it often.
            "withdrawal_proof_poll_interval_seconds": DEVNET_PROOF_POLL_INTERVAL_SECONDS,
        }
        if self.coingecko is not None:
            values["coingecko_url"] = self.coingecko.url
            # The stand-in has no rate limit: the production pause would only slow the devnet down.
            values["coingecko_batch_pause_seconds"] = DEVNET_COINGECKO_BATCH_PAUSE_SECONDS
        if self.scroll_bridge is not None:
            values["scroll_bridge_api_url"] = self.scroll_bridge.url
        if self.prover_gateway is not None:
            values["zkp_prover_url"] = self.prover_gateway.url
        if self.builder_nodes is not None:
            # The builder stand-ins announce plain http:// loopback URLs in their heartbeats.
            values["builder_require_https"] = False
        if self.validity_prover is not None:
            values["validity_prover_url"] = self.validity_prover.url
        if self.predicate is not None:
            values["predicate_api_url"] = f"{self.predicate.url}{PREDICATE_TASK_PATH}"
            values["predicate_api_key"] = DEVNET_PREDICATE_API_KEY
        if self.webhook_sink is not None:
            values["alert_webhook_url"] = f"{self.webhook_sink.url}{DEVNET_ALERT_WEBHOOK_PATH}"
        # Every devnet has the mock relayers (mock_messenger_private_key): watch their wallet too.
        values["use_mock_wallet_observer"] = True
        for chain in ("l1", "l2"):
            if f"{chain}_multicall3" in self.contracts:
                values[f"{chain}_multicall3_address"] = self.contracts[f"{chain}_multicall3"].address
        if "deployed_on" in self.extra:
            values["indexing_start_date"] = self.extra["deployed_on"]
        for key in CONFIGURED_CONTRACTS:
            entry = self.contracts[key]
            values[f"{key}_address"] = entry.address
            values[f"{key}_deployed_block"] = entry.block_number
        return values

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> DevnetManifest:
        raw = json.loads(text)
        return cls(
            **{
                **raw,
                "l1": ChainEntry(**raw["l1"]),
                "l2": ChainEntry(**raw["l2"]),
                "contracts": {k: ContractEntry(**v) for k, v in raw["contracts"].items()},
                # Manifests written before a stand-in existed lack its key (or hold null).
                **{key: ServiceEntry(**raw[key]) if raw.get(key) else None for key in SERVICE_KEYS},
            }
        )


def manifest_path(data_dir: Path) -> Path:
    return data_dir / MANIFEST_FILE


def read_manifest(data_dir: Path) -> DevnetManifest | None:
    path = manifest_path(data_dir)
    if not path.exists():
        return None
    return DevnetManifest.from_json(path.read_text())


def write_manifest(data_dir: Path, manifest: DevnetManifest) -> Path:
    """Write atomically: a reader never sees half a manifest."""
    path = manifest_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(manifest.to_json())
    os.replace(tmp, path)
    return path
