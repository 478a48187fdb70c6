"""The INTMAX2 events the pipeline indexes: their signatures, and fast bulk decoding of raw logs.

Each event is written once, as its Solidity declaration (docs/protocol.md §7.1); topic0, the
column layout and the decoder all derive from it. Decoding works on the raw JSON-RPC log dicts:
static words are sliced by hand (no per-log web3 formatting, which is ~100x slower) and only
dynamic types (`bytes`, `string`) go through eth_abi.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from eth_abi import decode as abi_decode
from eth_hash.auto import keccak

WORD = 32
_PARAM = re.compile(r"^(?P<type>\(.*\)|[a-z0-9]+(?:\[\d*\])?)\s+(?P<indexed>indexed\s+)?(?P<name>\w+)$")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class Field:
    """One decoded value: a column of the event's table."""

    column: str
    abi_type: str  # elementary type: address, bool, bytes32, bytes, string, uint32, uint64, uint256
    indexed: bool


def _split_params(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        depth += char == "("
        depth -= char == ")"
        current += char
    if current.strip():
        parts.append(current.strip())
    return parts


@dataclass(frozen=True)
class EventSpec:
    """An event, from its Solidity declaration, e.g.
    `event DepositCanceled(uint256 indexed depositId)`. Tuple parameters (structs) are flattened
    into columns named `<param>_<member>`."""

    declaration: str
    table: str
    # Columns whose natural name would clash with the common log columns (block_number, ...).
    renames: tuple[tuple[str, str], ...] = ()

    @cached_property
    def name(self) -> str:
        return self.declaration.removeprefix("event ").split("(", 1)[0].strip()

    @cached_property
    def _params(self) -> list[tuple[str, bool, str, list[tuple[str, str]]]]:
        """(type, indexed, name, tuple members [(type, name)])"""
        body = self.declaration[self.declaration.index("(") + 1 : self.declaration.rindex(")")]
        params = []
        for raw in _split_params(body):
            match = _PARAM.match(raw)
            if not match:
                raise ValueError(f"cannot parse parameter {raw!r} of {self.declaration}")
            type_ = match["type"]
            members = []
            if type_.startswith("("):
                for member in _split_params(type_[1:-1]):
                    member_type, member_name = member.split()
                    members.append((member_type, member_name))
            params.append((type_, bool(match["indexed"]), match["name"], members))
        return params

    @cached_property
    def canonical_signature(self) -> str:
        types = []
        for type_, _indexed, _name, members in self._params:
            types.append("(" + ",".join(t for t, _ in members) + ")" if members else type_)
        return f"{self.name}({','.join(types)})"

    @cached_property
    def topic0(self) -> str:
        return "0x" + keccak(self.canonical_signature.encode()).hex()

    @cached_property
    def fields(self) -> tuple[Field, ...]:
        fields = []
        for type_, indexed, name, members in self._params:
            if members:
                if indexed:
                    raise ValueError("indexed tuples are stored as a hash; not supported")
                fields += [Field(f"{_snake(name)}_{_snake(m)}", t, False) for t, m in members]
            else:
                fields.append(Field(_snake(name), type_, indexed))
        renames = dict(self.renames)
        return tuple(Field(renames.get(f.column, f.column), f.abi_type, f.indexed) for f in fields)

    @cached_property
    def _data_types(self) -> list[str]:
        return [f.abi_type for f in self.fields if not f.indexed]

    @cached_property
    def _data_is_static(self) -> bool:
        return all(t in _HEX_WORD_EXPRESSIONS for t in self._data_types)

    @cached_property
    def values(self) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
        """A function from one raw log (hex strings as eth_getLogs returns them) to its field values,
        in field order.

        This is the indexer's hot path (one call per log), so the function is generated once per
        event as straight-line code: each static word is converted from its hex text in place,
        with no bytes round trip and no per-field call. Dynamic data (`bytes`, `string`) goes
        through eth_abi."""
        expressions, topic, word = [], 1, 0
        for field in self.fields:
            if field.indexed:
                expressions.append(_HEX_WORD_EXPRESSIONS[field.abi_type].format(f"t[{topic}]", 2, 66))
                topic += 1
            elif self._data_is_static:
                expressions.append(_HEX_WORD_EXPRESSIONS[field.abi_type].format("d", 2 + 64 * word, 66 + 64 * word))
                word += 1
            else:
                expressions.append(f"dynamic[{word}]")
                word += 1
        decode_dynamic = "" if self._data_is_static else "    dynamic = decode_data(d)\n"
        source = (
            "def values(log):\n"
            '    t = log["topics"]\n'
            '    d = log["data"]\n'
            f"{decode_dynamic}"
            f"    return ({', '.join(expressions)},)\n"
        )
        namespace: dict[str, Any] = {"decode_data": self._decode_dynamic_data}
        exec(compile(source, f"<{self.name} values>", "exec"), namespace)
        return namespace["values"]

    def _decode_dynamic_data(self, data: str) -> list[Any]:
        decoded = abi_decode(self._data_types, bytes.fromhex(data[2:]))
        return [_normalize(t, v) for t, v in zip(self._data_types, decoded, strict=True)]

    def decode(self, log: dict[str, Any]) -> dict[str, Any]:
        """Field values of one raw log by column name."""
        return dict(zip((f.column for f in self.fields), self.values(log), strict=True))


# How to read one 32-byte word out of a hex string `{0}` between characters {1} and {2} (a topic,
# or a static word of the data): addresses and hashes as lowercase 0x hex, integers as int.
_HEX_WORD_EXPRESSIONS = {
    "address": '"0x" + {0}[{2} - 40:{2}].lower()',
    "bytes32": '"0x" + {0}[{1}:{2}].lower()',
    "bool": '{0}[{2} - 1] == "1"',
    **{f"uint{bits}": "int({0}[{1}:{2}], 16)" for bits in range(8, 257, 8)},
}


def _normalize(abi_type: str, value: Any) -> Any:
    """A value from eth_abi.decode in the same representation as `_from_word`."""
    if abi_type == "address":
        return value.lower()
    if abi_type == "bytes32":
        return "0x" + value.hex()
    return value


# --- the events the pipeline indexes ---------------------------------------------------------
WITHDRAWAL_TUPLE = "(address recipient, uint32 tokenIndex, uint256 amount, bytes32 nullifier)"

DEPOSITED = EventSpec(
    "event Deposited(uint256 indexed depositId, address indexed sender, bytes32 indexed recipientSaltHash, "
    "uint32 tokenIndex, uint256 amount, bool isEligible, uint256 depositedAt)",
    "evt_deposited",
)
DEPOSITS_RELAYED = EventSpec(
    "event DepositsRelayed(uint256 indexed upToDepositId, uint256 gasLimit, bytes message)", "evt_deposits_relayed"
)
DEPOSIT_CANCELED = EventSpec("event DepositCanceled(uint256 indexed depositId)", "evt_deposit_canceled")
WITHDRAWAL_CLAIMABLE = EventSpec(
    "event WithdrawalClaimable(bytes32 indexed withdrawalHash)", "evt_withdrawal_claimable"
)
DIRECT_WITHDRAWAL_SUCCESSED = EventSpec(
    "event DirectWithdrawalSuccessed(bytes32 indexed withdrawalHash, address indexed recipient)",
    "evt_direct_withdrawal_successed",
)
DIRECT_WITHDRAWAL_FAILED = EventSpec(
    f"event DirectWithdrawalFailed(bytes32 indexed withdrawalHash, {WITHDRAWAL_TUPLE} withdrawal)",
    "evt_direct_withdrawal_failed",
)
CLAIMED_WITHDRAWAL = EventSpec(
    "event ClaimedWithdrawal(address indexed recipient, bytes32 indexed withdrawalHash)", "evt_claimed_withdrawal"
)
SENT_MESSAGE = EventSpec(
    "event SentMessage(address indexed sender, address indexed target, uint256 value, uint256 messageNonce, "
    "uint256 gasLimit, bytes message)",
    "evt_sent_message",
)
MINTED = EventSpec("event Minted(uint256 amount)", "evt_minted")
TRANSFERRED_TO_LIQUIDITY = EventSpec("event TransferredToLiquidity(uint256 amount)", "evt_transferred_to_liquidity")
BLOCK_POSTED = EventSpec(
    "event BlockPosted(bytes32 indexed prevBlockHash, address indexed blockBuilder, uint64 timestamp, "
    "uint256 blockNumber, bytes32 depositTreeRoot, bytes32 signatureHash)",
    "evt_block_posted",
    # The INTMAX block's own number and time, not the L2 block's that every row also carries.
    renames=(("block_number", "intmax_block_number"), ("timestamp", "intmax_timestamp")),
)
DEPOSITS_PROCESSED = EventSpec(
    "event DepositsProcessed(uint256 indexed lastProcessedDepositId, bytes32 depositTreeRoot)",
    "evt_deposits_processed",
)
DEPOSIT_LEAF_INSERTED = EventSpec(
    "event DepositLeafInserted(uint32 indexed depositIndex, bytes32 indexed depositHash)",
    "evt_deposit_leaf_inserted",
)
DIRECT_WITHDRAWAL_QUEUED = EventSpec(
    f"event DirectWithdrawalQueued(bytes32 indexed withdrawalHash, address indexed recipient, "
    f"{WITHDRAWAL_TUPLE} withdrawal)",
    "evt_direct_withdrawal_queued",
)
CLAIMABLE_WITHDRAWAL_QUEUED = EventSpec(
    f"event ClaimableWithdrawalQueued(bytes32 indexed withdrawalHash, address indexed recipient, "
    f"{WITHDRAWAL_TUPLE} withdrawal)",
    "evt_claimable_withdrawal_queued",
)
BLOCK_BUILDER_HEARTBEAT = EventSpec(
    "event BlockBuilderHeartbeat(address indexed blockBuilder, string url)", "evt_block_builder_heartbeat"
)

ALL_EVENTS: tuple[EventSpec, ...] = (
    DEPOSITED,
    DEPOSITS_RELAYED,
    DEPOSIT_CANCELED,
    WITHDRAWAL_CLAIMABLE,
    DIRECT_WITHDRAWAL_SUCCESSED,
    DIRECT_WITHDRAWAL_FAILED,
    CLAIMED_WITHDRAWAL,
    SENT_MESSAGE,
    MINTED,
    TRANSFERRED_TO_LIQUIDITY,
    BLOCK_POSTED,
    DEPOSITS_PROCESSED,
    DEPOSIT_LEAF_INSERTED,
    DIRECT_WITHDRAWAL_QUEUED,
    CLAIMABLE_WITHDRAWAL_QUEUED,
    BLOCK_BUILDER_HEARTBEAT,
)
