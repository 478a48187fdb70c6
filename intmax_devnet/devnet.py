"""Bring the devnet up and down: two anvil chains, every contract deployed and wired, stand-ins for
the external HTTP services (CoinGecko, Scroll bridge API, prover gateway, builder nodes, validity
prover, Predicate, alert webhook), a manifest.

`up` refuses to start a second devnet while one runs; `down` stops exactly the process groups
that `up` started (their pids are in the manifest) and removes the manifest.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from web3 import HTTPProvider, Web3

from intmax_core.devnet_manifest import (
    DEVNET_PREDICATE_API_KEY,
    ChainEntry,
    ContractEntry,
    DevnetManifest,
    ServiceEntry,
    manifest_path,
    read_manifest,
    write_manifest,
)
from intmax_devnet import accounts, builder_nodes, predicate, validity_prover, webhook_sink
from intmax_devnet.anvil import AnvilChain, process_group_alive, start_anvil, stop_process_group
from intmax_devnet.builder_nodes import BuilderNodesStandIn
from intmax_devnet.coingecko import CoinGeckoStandIn, start_standin
from intmax_devnet.coingecko_catalogue import DEVNET_TOKEN_COINS
from intmax_devnet.deploy_l1 import deploy_l1, deploy_odd_metadata_tokens, initialize_l1
from intmax_devnet.deploy_l2 import deploy_l2, initialize_l2
from intmax_devnet.predicate import PredicateStandIn
from intmax_devnet.prover_gateway import ProverGatewayStandIn
from intmax_devnet.prover_gateway import start_standin as start_prover_gateway
from intmax_devnet.prover_key import DEVNET_PROVER_ADDRESS
from intmax_devnet.scroll_bridge import Chains as ScrollBridgeChains
from intmax_devnet.scroll_bridge import ScrollBridgeStandIn
from intmax_devnet.scroll_bridge import start_standin as start_scroll_bridge
from intmax_devnet.standin_process import StandInProcess
from intmax_devnet.validity_prover import ValidityProverStandIn
from intmax_devnet.webhook_sink import WebhookSinkStandIn

log = logging.getLogger(__name__)

L1_CHAIN_ID = 31337
L2_CHAIN_ID = 31338
DEFAULT_L1_PORT = 8545
DEFAULT_L2_PORT = 8546
# anvil mines a block per transaction and never reorgs on its own, so every mined block is final.
DEVNET_CONFIRMATIONS = 0
RPC_TIMEOUT_SECONDS = 30


class DevnetError(RuntimeError):
    pass


def web3_for(rpc_url: str) -> Web3:
    return Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": RPC_TIMEOUT_SECONDS}))


def deploy_contracts(l1: Web3, l2: Web3) -> dict[str, ContractEntry]:
    """Deploy and wire every devnet contract on both chains; returns the manifest's contract map."""
    deployer = accounts.role("deployer").address
    l1_deployment = deploy_l1(
        l1,
        deployer,
        relayer=accounts.role("deposit_analyzer").address,
        token_manager=accounts.role("token_manager").address,
    )
    l2_deployment = deploy_l2(l2, deployer, withdrawal_aggregator=accounts.role("withdrawal_aggregator").address)
    initialize_l2(l2, l2_deployment, admin=deployer, liquidity=l1_deployment["liquidity"].address)
    initialize_l1(
        l1,
        l1_deployment,
        admin=deployer,
        rollup=l2_deployment["rollup"].address,
        withdrawal=l2_deployment["withdrawal"].address,
    )
    # Tokens whose symbol() is a bytes32 or reverts, for the token-map register; deployed last.
    l1_deployment |= deploy_odd_metadata_tokens(l1, deployer)
    contracts: dict[str, ContractEntry] = {}
    for chain, deployment in (("l1", l1_deployment), ("l2", l2_deployment)):
        for key, deployed in deployment.items():
            name = f"{chain}_{key}" if key == "multicall3" else key
            contracts[name] = ContractEntry(chain, deployed.contract, deployed.address, deployed.block_number)
    return contracts


@dataclass
class RunningDevnet:
    l1: AnvilChain
    l2: AnvilChain
    manifest: DevnetManifest
    coingecko: CoinGeckoStandIn | None = None
    scroll_bridge: ScrollBridgeStandIn | None = None
    prover_gateway: ProverGatewayStandIn | None = None
    builder_nodes: BuilderNodesStandIn | None = None
    validity_prover: ValidityProverStandIn | None = None
    predicate: PredicateStandIn | None = None
    webhook_sink: WebhookSinkStandIn | None = None

    def standins(self) -> list[StandInProcess]:
        candidates = (
            self.coingecko,
            self.scroll_bridge,
            self.prover_gateway,
            self.builder_nodes,
            self.validity_prover,
            self.predicate,
            self.webhook_sink,
        )
        return [standin for standin in candidates if standin is not None]

    def stop(self) -> None:
        self.l1.stop()
        self.l2.stop()
        for standin in self.standins():
            standin.stop()


def _service(name: str, standin: StandInProcess) -> ServiceEntry:
    return ServiceEntry(name, standin.url, standin.pid, str(standin.log_path))


def start_devnet(
    log_dir: Path, *, l1_port: int | None = None, l2_port: int | None = None, genesis_timestamp: int | None = None
) -> RunningDevnet:
    """Start both chains, deploy and start the stand-ins; the caller owns the processes (nothing is
    written but logs). If any step fails, everything already started is stopped.

    `genesis_timestamp` starts both chains' clocks at that moment instead of now (tests of
    day-partitioned indexing need history on past days)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    clock = ["--timestamp", str(genesis_timestamp)] if genesis_timestamp is not None else []
    with ExitStack() as started:
        # Each process is registered for stopping as soon as it runs; pop_all() keeps them on success.
        l1 = start_anvil(L1_CHAIN_ID, l1_port, log_path=log_dir / "l1.log", extra_args=clock)
        started.callback(l1.stop)
        l2 = start_anvil(L2_CHAIN_ID, l2_port, log_path=log_dir / "l2.log", extra_args=clock)
        started.callback(l2.stop)
        contracts = deploy_contracts(web3_for(l1.rpc_url), web3_for(l2.rpc_url))
        # The stand-in lists the devnet tokens under their real CoinGecko ids at these addresses.
        token_addresses = {key: contracts[key].address for key in DEVNET_TOKEN_COINS}
        coingecko = start_standin(token_addresses, log_path=log_dir / "coingecko.log")
        started.callback(coingecko.stop)
        # The Scroll bridge API stand-in lists the mock messengers' unclaimed L2->L1 messages.
        scroll_bridge = start_scroll_bridge(
            ScrollBridgeChains(
                l1.rpc_url,
                l2.rpc_url,
                contracts["l1_scroll_messenger"].address,
                contracts["l2_scroll_messenger"].address,
            ),
            log_path=log_dir / "scroll_bridge.log",
        )
        started.callback(scroll_bridge.stop)
        # The prover gateway stand-in proves withdrawal chains for the aggregator (ZKP_PROVER_URL).
        prover_gateway = start_prover_gateway(log_path=log_dir / "prover_gateway.log")
        started.callback(prover_gateway.stop)
        # The simulated builders' /fee-info servers, at the URLs their heartbeats announce.
        builders = builder_nodes.start_standin(log_path=log_dir / "builder_nodes.log")
        started.callback(builders.stop)
        # The validity prover's /block-number follows the devnet Rollup.
        prover = validity_prover.start_standin(
            l2.rpc_url, contracts["rollup"].address, log_path=log_dir / "validity_prover.log"
        )
        started.callback(prover.stop)
        predicate_api = predicate.start_standin(DEVNET_PREDICATE_API_KEY, log_path=log_dir / "predicate.log")
        started.callback(predicate_api.stop)
        # Where the devnet's alerts are posted (a Discord webhook in production).
        sink = webhook_sink.start_standin(log_path=log_dir / "webhook_sink.log")
        started.callback(sink.stop)
        manifest = DevnetManifest(
            l1=ChainEntry("l1", l1.chain_id, l1.rpc_url, l1.pid, str(l1.log_path)),
            l2=ChainEntry("l2", l2.chain_id, l2.rpc_url, l2.pid, str(l2.log_path)),
            contracts=contracts,
            accounts={name: accounts.role(name).address for name in accounts.ROLE_INDEXES},
            owner_mnemonic=accounts.DEVNET_MNEMONIC,
            mock_messenger_private_key=accounts.role("mock_messenger").private_key,
            prover_address=DEVNET_PROVER_ADDRESS.lower(),
            confirmations=DEVNET_CONFIRMATIONS,
            coingecko=_service("coingecko", coingecko),
            scroll_bridge=_service("scroll_bridge", scroll_bridge),
            prover_gateway=_service("prover_gateway", prover_gateway),
            builder_nodes=_service("builder_nodes", builders),
            validity_prover=_service("validity_prover", prover),
            predicate=_service("predicate", predicate_api),
            webhook_sink=_service("webhook_sink", sink),
            # The first daily indexing partition: the UTC day of the L1 deployment block.
            extra={
                "deployed_on": datetime.fromtimestamp(web3_for(l1.rpc_url).eth.get_block("latest")["timestamp"], UTC)
                .date()
                .isoformat()
            },
        )
        started.pop_all()
    return RunningDevnet(
        l1,
        l2,
        manifest,
        coingecko,
        scroll_bridge=scroll_bridge,
        prover_gateway=prover_gateway,
        builder_nodes=builders,
        validity_prover=prover,
        predicate=predicate_api,
        webhook_sink=sink,
    )


def running_pids(manifest: DevnetManifest) -> list[int]:
    """The live process groups of the chains (first) and of the stand-ins."""
    chains = [chain.pid for chain in (manifest.l1, manifest.l2) if process_group_alive(chain.pid)]
    return chains + [pid for pid in service_pids(manifest) if process_group_alive(pid)]


def service_pids(manifest: DevnetManifest) -> list[int]:
    return [service.pid for service in manifest.services()]


def up(data_dir: Path, *, l1_port: int = DEFAULT_L1_PORT, l2_port: int = DEFAULT_L2_PORT) -> DevnetManifest:
    existing = read_manifest(data_dir)
    if existing is not None:
        alive = running_pids(existing)
        if alive:
            raise DevnetError(
                f"a devnet is already running (pids {', '.join(map(str, alive))}, "
                f"manifest {manifest_path(data_dir)}); run `intmax devnet down` first"
            )
        manifest_path(data_dir).unlink()  # left behind by a devnet whose processes are gone
    devnet = start_devnet(data_dir / "devnet", l1_port=l1_port, l2_port=l2_port)
    try:
        write_manifest(data_dir, devnet.manifest)
    except Exception:
        devnet.stop()
        raise
    return devnet.manifest


def down(data_dir: Path) -> list[int]:
    """Stop the devnet's process groups and remove its manifest; returns the chain pids that were running.

    The stand-ins are stopped too, but not counted: callers report the returned pids as chains."""
    manifest = read_manifest(data_dir)
    if manifest is None:
        return []
    alive = running_pids(manifest)
    for pid in alive:
        stop_process_group(pid)
    manifest_path(data_dir).unlink(missing_ok=True)
    services = set(service_pids(manifest))
    return [pid for pid in alive if pid not in services]


def status(data_dir: Path) -> tuple[bool, str]:
    """(running, a human-readable report)."""
    manifest = read_manifest(data_dir)
    if manifest is None:
        return False, "no devnet (no manifest at " + str(manifest_path(data_dir)) + ")"
    lines = []
    running = True
    for chain in (manifest.l1, manifest.l2):
        alive = process_group_alive(chain.pid)
        running &= alive
        head = ""
        if alive:
            try:
                head = f", head block {web3_for(chain.rpc_url).eth.block_number}"
            except Exception as error:
                head = f", not answering ({type(error).__name__})"
        state = "running" if alive else "NOT running"
        lines.append(f"{chain.name}: {state} (pid {chain.pid}) chain id {chain.chain_id} at {chain.rpc_url}{head}")
    for service in manifest.services():
        alive = process_group_alive(service.pid)
        running &= alive
        state = "up" if alive else "NOT running"
        lines.append(f"{service.name} stand-in: {state}, pid {service.pid}, at {service.url}")
    for key, entry in sorted(manifest.contracts.items()):
        lines.append(f"  {entry.chain} {key:<24} {entry.address}  (block {entry.block_number})")
    return running, "\n".join(lines)
