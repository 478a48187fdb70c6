"""Revert data: where nodes put it in JSON-RPC errors, and what it says (custom errors by selector).

A revert is classified by the 4-byte selector at the start of its data, never by message text:
custom errors (`error OutOfRange(uint256,uint256,uint256)`), Solidity's string reason
`Error(string)` and `Panic(uint256)`. The registry is built from ABI error definitions or from
canonical signatures.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak

ERROR_STRING_SELECTOR = "0x08c379a0"  # Error(string): require(cond, "reason") / revert("reason")
PANIC_SELECTOR = "0x4e487b71"  # Panic(uint256): assert, overflow, division by zero, ...
SELECTOR_BYTES = 4
# Geth-style "execution reverted" code (EIP-1474 has none; geth, anvil, reth, erigon use 3).
EXECUTION_REVERTED_CODE = 3
_HEX_DATA = re.compile(r"^0x(?:[0-9a-fA-F]{2})*$")


@dataclass(frozen=True)
class ErrorDefinition:
    name: str
    types: tuple[str, ...]

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(self.types)})"

    @property
    def selector(self) -> str:
        return "0x" + keccak(text=self.signature)[:SELECTOR_BYTES].hex()


@dataclass(frozen=True)
class DecodedRevert:
    """A revert, as far as the registry knows it. `name` is None for an unknown selector (or no data)."""

    data: bytes
    selector: str | None
    name: str | None
    args: tuple[Any, ...] = ()

    @property
    def reason(self) -> str | None:
        """The string of an `Error(string)` revert."""
        return self.args[0] if self.name == "Error" and self.args else None

    def json_args(self) -> list[Any]:
        """Arguments for a JSON column: ints as decimal strings (uint256 exceeds JSON numbers), bytes as hex."""
        return [_jsonable(arg) for arg in self.args]

    def describe(self) -> str:
        if self.name is None:
            return f"unknown revert {self.selector or '(no data)'}"
        return f"{self.name}({', '.join(repr(arg) for arg in self.json_args())})"


def _jsonable(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def _canonical_type(entry: Mapping[str, Any]) -> str:
    """The canonical ABI type of an ABI input, expanding tuples (`(address,uint32)[]`)."""
    kind = entry["type"]
    if kind.startswith("tuple"):
        inner = ",".join(_canonical_type(component) for component in entry.get("components", []))
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def parse_signature(signature: str) -> ErrorDefinition:
    """`OutOfRange(uint256,uint256,uint256)` -> ErrorDefinition; nested tuples are kept whole."""
    signature = signature.strip().removeprefix("error ").replace(" ", "")
    name, _, rest = signature.partition("(")
    if not name or not rest.endswith(")"):
        raise ValueError(f"not an error signature: {signature!r}")
    body = rest[:-1]
    types: list[str] = []
    depth, start = 0, 0
    for index, char in enumerate(body):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            types.append(body[start:index])
            start = index + 1
    if body:
        types.append(body[start:])
    return ErrorDefinition(name, tuple(types))


class ErrorRegistry:
    """Selector -> error definition. Always knows Error(string) and Panic(uint256)."""

    def __init__(self, definitions: Iterable[ErrorDefinition] = ()) -> None:
        self._by_selector: dict[str, ErrorDefinition] = {}
        for definition in (ErrorDefinition("Error", ("string",)), ErrorDefinition("Panic", ("uint256",))):
            self.add(definition)
        for definition in definitions:
            self.add(definition)

    @classmethod
    def from_abis(cls, *abis: Iterable[Mapping[str, Any]]) -> ErrorRegistry:
        registry = cls()
        for abi in abis:
            registry.add_abi(abi)
        return registry

    @classmethod
    def from_signatures(cls, *signatures: str) -> ErrorRegistry:
        return cls(parse_signature(signature) for signature in signatures)

    def add(self, definition: ErrorDefinition) -> None:
        known = self._by_selector.get(definition.selector)
        if known is not None and known != definition:
            # Two errors sharing a selector cannot be told apart; refusing beats mislabelling.
            raise ValueError(f"selector {definition.selector} of {definition.signature} is taken by {known.signature}")
        self._by_selector[definition.selector] = definition

    def add_abi(self, abi: Iterable[Mapping[str, Any]]) -> None:
        for entry in abi:
            if entry.get("type") == "error":
                types = tuple(_canonical_type(item) for item in entry.get("inputs", []))
                self.add(ErrorDefinition(entry["name"], types))

    def add_signature(self, signature: str) -> None:
        self.add(parse_signature(signature))

    def __contains__(self, selector: str) -> bool:
        return selector.lower() in self._by_selector

    def get(self, selector: str) -> ErrorDefinition | None:
        return self._by_selector.get(selector.lower())

    def decode(self, data: bytes) -> DecodedRevert:
        if len(data) < SELECTOR_BYTES:
            return DecodedRevert(data=data, selector=None, name=None)
        selector = "0x" + data[:SELECTOR_BYTES].hex()
        definition = self._by_selector.get(selector)
        if definition is None:
            return DecodedRevert(data=data, selector=selector, name=None)
        try:
            args = abi_decode(list(definition.types), data[SELECTOR_BYTES:])
        except (DecodingError, ValueError, OverflowError):
            # Right selector, malformed body: keep the name, which is what classification needs.
            return DecodedRevert(data=data, selector=selector, name=definition.name)
        return DecodedRevert(data=data, selector=selector, name=definition.name, args=tuple(args))


def revert_data(error_data: Any) -> bytes | None:
    """The revert data inside a JSON-RPC error's `data`, or None when there is none.

    Nodes differ: geth, anvil and reth put the hex string itself in `data`; some providers and
    proxies nest it as {"data": "0x..."} (or deeper, e.g. {"originalError": {"data": ...}}).
    """
    if isinstance(error_data, str):
        return bytes.fromhex(error_data[2:]) if _HEX_DATA.match(error_data) else None
    if isinstance(error_data, Mapping):
        for key in ("data", "originalError", "error", "result"):
            if key in error_data:
                found = revert_data(error_data[key])
                if found is not None:
                    return found
    return None
