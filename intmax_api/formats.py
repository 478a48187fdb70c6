"""How the API writes values: times as ISO-8601 UTC with a `Z`."""

from __future__ import annotations

from datetime import UTC, datetime

from intmax_core.warehouse.types import utc


def iso_utc(moment: datetime | None) -> str | None:
    moment = utc(moment)
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
