"""The token map register: every Liquidity token index seen in deposits, with its contract, symbol and decimals.

Unlike the original (which only ever added ERC20 entries and failed the whole run on one bad
token), each index is resolved on its own:
- Liquidity.getTokenInfo for every unresolved index, then ERC20 symbol() and decimals(), each
  batch in one Multicall3 `aggregate3` with every call allowed to fail;
- a token whose calls fail (symbol() reverts, decimals() missing, garbage) is stored with
  `resolve_error` and `resolve_attempts` and tried again by the next run; the others are stored;
- an `eth_call` failing as a whole (RPC error, node down) raises before anything is written:
  nothing was learned, so no token is marked failed;
- ERC721 / ERC1155 indexes are stored with their type and token id; their symbol() is read when
  the contract has one (optional in both standards), and decimals stay null (not applicable).

Which indexes: Liquidity numbers tokens 0, 1, 2, ... in registration order, so every index up to
the highest one seen in `evt_deposited` (or `deposits`) exists; all of them are resolved, which
also maps tokens registered at initialisation that nobody has deposited yet.

Writes are upserts keyed by token index, so concurrent runs cannot duplicate or corrupt rows: a
failure never overwrites a row another run resolved, and attempts are counted in SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from eth_abi import encode
from sqlalchemy import Connection, Engine, func, select, union_all
from sqlalchemy.dialects import postgresql, sqlite

from intmax_core.chain.rpc import RpcClient
from intmax_core.tokens.metadata import TokenInfo, decode_decimals, decode_symbol, decode_token_info
from intmax_core.tokens.multicall import ContractCall, aggregate3, selector
from intmax_core.warehouse.deposits_tables import deposits
from intmax_core.warehouse.event_tables import EVENT_TABLES
from intmax_core.warehouse.tokens_tables import ZERO_ADDRESS, TokenType, token_maps
from intmax_core.warehouse.types import utc

GET_TOKEN_INFO = selector("getTokenInfo(uint32)")  # 0xcbd90cd0
SYMBOL = selector("symbol()")
DECIMALS = selector("decimals()")
ETH_INDEX = 0
ETH_SYMBOL = "ETH"
ETH_DECIMALS = 18
# A token that failed is retried after 1, 2, 4 ... minutes, at most an hour (the sensor's pace;
# a manual materialization retries every unresolved token at once).
RETRY_BACKOFF = timedelta(minutes=1)
RETRY_BACKOFF_MAX = timedelta(hours=1)

DEPOSITED = EVENT_TABLES["Deposited"]


@dataclass(frozen=True)
class TokenMapEntry:
    token_index: int
    info: TokenInfo | None
    symbol: str | None = None
    decimals: int | None = None
    error: str | None = None  # None = resolved


@dataclass(frozen=True)
class TokenMapReport:
    attempted: list[int]
    resolved: list[int]  # resolved by this run
    failed: dict[int, str]  # token index -> why, for this run
    total: int  # rows in token_maps
    resolved_total: int
    unresolved_total: int


def retry_backoff(attempts: int) -> timedelta:
    if attempts <= 0:
        return timedelta(0)
    return min(RETRY_BACKOFF_MAX, RETRY_BACKOFF * 2 ** (attempts - 1))


def highest_seen_token_index(connection: Connection, *, min_deposit_id: int = 0) -> int | None:
    """The highest token index in evt_deposited (deposit id above `min_deposit_id`) and in deposits."""
    seen = union_all(
        select(func.max(DEPOSITED.c.token_index).label("i")).where(DEPOSITED.c.deposit_id > min_deposit_id),
        select(func.max(deposits.c.token_index).label("i")).where(deposits.c.deposit_id > min_deposit_id),
    ).subquery()
    return connection.execute(select(func.max(seen.c.i))).scalar()


def newest_deposit_id(connection: Connection) -> int | None:
    return connection.execute(select(func.max(DEPOSITED.c.deposit_id))).scalar()


@dataclass(frozen=True)
class PendingToken:
    token_index: int
    attempts: int
    last_attempt: datetime | None  # None = never tried


def pending_tokens(connection: Connection, highest_seen: int | None) -> list[PendingToken]:
    """Indexes 0..highest_seen that are not resolved (missing, or failed before), in index order."""
    rows = {
        row.token_index: row
        for row in connection.execute(
            select(
                token_maps.c.token_index,
                token_maps.c.resolved_at,
                token_maps.c.resolve_attempts,
                token_maps.c.updated_at,
            )
        )
    }
    highest = max(ETH_INDEX, highest_seen if highest_seen is not None else ETH_INDEX)
    pending = []
    for index in range(ETH_INDEX, highest + 1):
        row = rows.get(index)
        if row is None:
            pending.append(PendingToken(index, 0, None))
        elif row.resolved_at is None:
            pending.append(PendingToken(index, row.resolve_attempts, utc(row.updated_at)))
    return pending


def due_for_retry(token: PendingToken, now: datetime) -> bool:
    return token.last_attempt is None or token.last_attempt + retry_backoff(token.attempts) <= now


def resolve_tokens(client: RpcClient, liquidity: str, multicall: str, indexes: Sequence[int]) -> list[TokenMapEntry]:
    """Read getTokenInfo, symbol() and decimals() for `indexes`. Raises if an eth_call fails as a whole."""
    entries: dict[int, TokenMapEntry] = {}
    chain_indexes = [i for i in indexes if i != ETH_INDEX]
    if ETH_INDEX in indexes:
        entries[ETH_INDEX] = eth_entry()
    infos = aggregate3(
        client, multicall, [ContractCall(liquidity, GET_TOKEN_INFO + encode(["uint32"], [i])) for i in chain_indexes]
    )
    known: list[tuple[int, TokenInfo]] = []
    for index, result in zip(chain_indexes, infos, strict=True):
        info, error = decode_token_info(result)
        if info is None:
            entries[index] = TokenMapEntry(index, None, error=error)
        else:
            known.append((index, info))
    calls: list[ContractCall] = []
    for _, info in known:
        calls.append(ContractCall(info.contract_address, SYMBOL))
        if info.token_type == TokenType.ERC20:
            calls.append(ContractCall(info.contract_address, DECIMALS))
    answers = iter(aggregate3(client, multicall, calls))
    for index, info in known:
        symbol, symbol_error = decode_symbol(next(answers))
        if info.token_type == TokenType.ERC20:
            decimals, decimals_error = decode_decimals(next(answers))
            error = "; ".join(e for e in (symbol_error, decimals_error) if e) or None
            entries[index] = TokenMapEntry(index, info, symbol, decimals, error)
        else:
            # NFTs: symbol() is optional metadata (best effort), decimals do not apply.
            entries[index] = TokenMapEntry(index, info, symbol, None, None)
    return [entries[i] for i in sorted(entries)]


def eth_entry() -> TokenMapEntry:
    return TokenMapEntry(ETH_INDEX, TokenInfo(TokenType.NATIVE, ZERO_ADDRESS, 0), ETH_SYMBOL, ETH_DECIMALS)


def write_entries(connection: Connection, entries: Sequence[TokenMapEntry], now: datetime) -> None:
    """Upsert `entries` (call inside a transaction). A failure never overwrites a resolved row."""
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    for entry in entries:
        info_values = (
            {"token_type": int(entry.info.token_type), "contract_address": entry.info.contract_address,
             "token_id": entry.info.token_id}
            if entry.info is not None else {}
        )  # fmt: skip
        if entry.error is None:
            values = {
                **info_values, "symbol": entry.symbol, "decimals": entry.decimals, "resolve_error": None,
                "resolved_at": now, "updated_at": now,
            }  # fmt: skip
            statement = insert(token_maps).values(token_index=entry.token_index, created_at=now, **values)
            statement = statement.on_conflict_do_update(index_elements=[token_maps.c.token_index], set_=values)
        else:
            values = {**info_values, "resolve_error": entry.error, "updated_at": now}
            statement = insert(token_maps).values(
                token_index=entry.token_index, resolve_attempts=1, created_at=now, **values
            )
            statement = statement.on_conflict_do_update(
                index_elements=[token_maps.c.token_index],
                set_={**values, "resolve_attempts": token_maps.c.resolve_attempts + 1},
                where=token_maps.c.resolved_at.is_(None),
            )
        connection.execute(statement)


def register_token_maps(
    engine: Engine, client: RpcClient, liquidity: str, multicall: str, *, now: datetime | None = None
) -> TokenMapReport:
    """Resolve every pending token index and store the outcome; returns what happened."""
    with engine.connect() as connection:
        pending = pending_tokens(connection, highest_seen_token_index(connection))
    indexes = [token.token_index for token in pending]
    # Chain reads happen before the write transaction, so an RPC failure leaves the table untouched.
    entries = resolve_tokens(client, liquidity.lower(), multicall.lower(), indexes) if indexes else []
    with engine.begin() as connection:
        write_entries(connection, entries, now or datetime.now(UTC))
    with engine.connect() as connection:
        counts = connection.execute(
            select(func.count(), func.count(token_maps.c.resolved_at)).select_from(token_maps)
        ).one()
    return TokenMapReport(
        attempted=indexes,
        resolved=[e.token_index for e in entries if e.error is None],
        failed={e.token_index: e.error for e in entries if e.error is not None},
        total=counts[0],
        resolved_total=counts[1],
        unresolved_total=counts[0] - counts[1],
    )
