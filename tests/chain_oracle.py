"""What the chain says, read independently of our indexer: web3's own event decoding."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from web3 import Web3

from intmax_core.devnet_manifest import DevnetManifest
from intmax_core.indexing.streams import StreamSpec
from intmax_core.warehouse.event_tables import EVENT_TABLES
from intmax_devnet.deployer import contract_at


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _value(value: Any) -> Any:
    if isinstance(value, str) and Web3.is_address(value):
        return value.lower()
    if isinstance(value, bytes) and len(value) == 32:
        return "0x" + value.hex()
    return value


RENAMES = {("BlockPosted", "block_number"): "intmax_block_number", ("BlockPosted", "timestamp"): "intmax_timestamp"}


def chain_rows(w3: Web3, manifest: DevnetManifest, stream: StreamSpec, to_block: int) -> dict[str, set[tuple]]:
    """{event: {(block_number, log_index, block timestamp, block_hash, tx_hash, address, *fields by name)}}"""
    entry = manifest.contracts[stream.contract]
    contract = contract_at(w3, entry.contract, entry.address)
    result: dict[str, set[tuple]] = {}
    timestamps: dict[int, int] = {}
    for event in stream.events:
        rows = set()
        for log in getattr(contract.events, event.name)().get_logs(from_block=entry.block_number, to_block=to_block):
            fields: dict[str, Any] = {}
            for name, value in log["args"].items():
                column = RENAMES.get((event.name, _snake(name)), _snake(name))
                if isinstance(value, Mapping):  # a struct: flattened into <param>_<member> columns
                    fields.update({f"{column}_{_snake(k)}": _value(v) for k, v in value.items()})
                else:
                    fields[column] = _value(value)
            number = log["blockNumber"]
            if number not in timestamps:
                timestamps[number] = w3.eth.get_block(number)["timestamp"]
            rows.add(
                (
                    log["blockNumber"],
                    log["logIndex"],
                    timestamps[number],
                    "0x" + log["blockHash"].hex(),
                    "0x" + log["transactionHash"].hex(),
                    log["address"].lower(),
                    *(fields[k] for k in sorted(fields)),
                )
            )
        result[event.name] = rows
    return result


def _epoch(moment: datetime) -> int:
    # SQLite gives back naive datetimes (stored as UTC), PostgreSQL aware ones.
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def table_rows(engine: Engine, chain_id: int, stream: StreamSpec, address: str) -> dict[str, set[tuple]]:
    result: dict[str, set[tuple]] = {}
    with engine.connect() as connection:
        for event in stream.events:
            table = EVENT_TABLES[event.name]
            field_columns = sorted(f.column for f in event.fields)
            query = select(
                table.c.block_number,
                table.c.log_index,
                table.c.block_time,
                table.c.block_hash,
                table.c.tx_hash,
                table.c.address,
                *(table.c[c] for c in field_columns),
            ).where(table.c.chain_id == chain_id, table.c.address == address)
            rows = [(row[0], row[1], _epoch(row[2]), *row[3:]) for row in connection.execute(query)]
            assert len(rows) == len(set(rows)), f"duplicate rows in {table.name}"
            result[event.name] = set(rows)
    return result
