"""The pipeline gauges of /metrics: a Prometheus collector over a warehouse reading taken at scrape time.

`await collector.refresh()` (the /metrics route calls it before rendering) reads the warehouse
(intmax_core.monitors.pipeline_gauges) in a worker thread, bounded by WAREHOUSE_READ_SECONDS per
statement (less if the API's request timeout is short: intmax_api.metrics). One read at a time,
and a reading younger than MIN_READ_INTERVAL_SECONDS is reused: /metrics is not rate limited, so
a flood of scrapes costs the warehouse at most one small read every few seconds, and the scrapes
waiting meanwhile wait on the event loop, not in worker threads.

If the read fails (warehouse unreachable, unmigrated, past the deadline), /metrics still answers
200: `intmax_warehouse_up` is 0 and the other pipeline gauges are left out, not kept stale, so
Prometheus marks their series stale instead of plotting old numbers as current (alert on
`intmax_warehouse_up == 0`). The failure is logged by exception class only (a driver's message may
quote the connection), at most once per OUTAGE_LOG_INTERVAL_SECONDS while it lasts.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from intmax_core.monitors.pipeline_gauges import PipelineReading, pipeline_engine, read_pipeline_bounded

log = logging.getLogger("intmax_api.metrics")

WAREHOUSE_READ_SECONDS = 1.0
MIN_READ_INTERVAL_SECONDS = 5.0
OUTAGE_LOG_INTERVAL_SECONDS = 60.0
STREAM_LABELS = ("stream", "chain_id")

HELP = {
    "intmax_warehouse_up": "1 if the last pipeline reading of the warehouse succeeded, 0 if it failed (then the "
    "other intmax_ pipeline gauges are absent).",
    "intmax_warehouse_read_seconds": "How long the last pipeline reading of the warehouse took (failed ones too).",
    "intmax_indexing_cursor_block": "Last block fully indexed by the stream (stream_cursors.block_number).",
    "intmax_indexing_lag_blocks": "Blocks between the newest block any stream of this chain has indexed "
    "(stream_ranges) and this stream's cursor. The chain head is not stored in the warehouse, so this is a lower "
    "bound of the lag behind the head: 0 for every stream when indexing stopped altogether (see "
    "intmax_indexing_cursor_age_seconds).",
    "intmax_indexing_cursor_age_seconds": "Seconds since the stream's cursor was last written (stream_cursors."
    "updated_at): grows when the stream's indexing stops.",
    "intmax_deposits_pending": "Deposits with status pending (not yet relayed to L2).",
    "intmax_withdrawals_requested": "Withdrawals with status requested (not yet collected into a group).",
    "intmax_withdrawals_oldest_requested_age_seconds": "Seconds since the oldest requested withdrawal was "
    "requested; 0 when none is requested.",
    "intmax_block_builders_inactive": "Block builders whose latest health check failed (active false; builders "
    "never checked yet are not counted).",
}


@dataclass(frozen=True)
class _Outcome:
    reading: PipelineReading | None  # None: the read failed
    seconds: float


class PipelineCollector(Collector):
    def __init__(
        self,
        warehouse_url: str,
        *,
        read_seconds: float = WAREHOUSE_READ_SECONDS,
        min_interval_seconds: float = MIN_READ_INTERVAL_SECONDS,
    ) -> None:
        self.read_seconds = read_seconds
        self.min_interval_seconds = min_interval_seconds
        self._engine = pipeline_engine(warehouse_url, read_seconds)
        self._lock = anyio.Lock()
        self._outcome: _Outcome | None = None
        self._refreshed_at = -float("inf")
        self._outage_logged_at = -float("inf")

    async def refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._refreshed_at < self.min_interval_seconds:
                return
            # The thread ends by the read's own deadline; a cancelled scrape need not wait for it.
            self._outcome = await anyio.to_thread.run_sync(self._read, abandon_on_cancel=True)
            self._refreshed_at = time.monotonic()

    def _read(self) -> _Outcome:
        started = time.monotonic()
        try:
            reading: PipelineReading | None = read_pipeline_bounded(self._engine, self.read_seconds)
        except (SQLAlchemyError, sqlite3.Error) as error:
            reading = None
            self._log_outage(error)
        else:
            self._outage_logged_at = -float("inf")  # the next outage is logged at once
        return _Outcome(reading, time.monotonic() - started)

    def _log_outage(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._outage_logged_at < OUTAGE_LOG_INTERVAL_SECONDS:
            return
        self._outage_logged_at = now
        # Class names only: a driver's message can quote the host, the user or the statement.
        cause = type(error.orig).__name__ if isinstance(error, DBAPIError) and error.orig else None
        kind = type(error).__name__ + (f" ({cause})" if cause else "")
        log.warning("pipeline gauges: warehouse read failed: %s; intmax_warehouse_up is 0", kind)

    def describe(self) -> Iterable[Metric]:
        # Names only, so the registry can refuse a clash without reading the warehouse.
        return [GaugeMetricFamily(name, text) for name, text in HELP.items()]

    def collect(self) -> Iterable[Metric]:
        outcome = self._outcome
        reading = outcome.reading if outcome else None
        yield GaugeMetricFamily("intmax_warehouse_up", HELP["intmax_warehouse_up"], value=1 if reading else 0)
        if outcome is not None:
            yield _gauge("intmax_warehouse_read_seconds", outcome.seconds)
        if outcome is None or reading is None:
            return
        # Ages count to now, not to the read: a reused reading's ages still move on.
        now = datetime.now(UTC)
        yield from _stream_gauges(reading, now)
        yield _gauge("intmax_deposits_pending", reading.pending_deposits)
        yield _gauge("intmax_withdrawals_requested", reading.requested_withdrawals)
        oldest = reading.oldest_requested_withdrawal_at
        age = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
        yield _gauge("intmax_withdrawals_oldest_requested_age_seconds", age)
        yield _gauge("intmax_block_builders_inactive", reading.inactive_builders)


def _gauge(name: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, HELP[name], value=value)


def _stream_gauges(reading: PipelineReading, now: datetime) -> Iterable[Metric]:
    cursor = GaugeMetricFamily(
        "intmax_indexing_cursor_block", HELP["intmax_indexing_cursor_block"], labels=STREAM_LABELS
    )
    lag = GaugeMetricFamily("intmax_indexing_lag_blocks", HELP["intmax_indexing_lag_blocks"], labels=STREAM_LABELS)
    age = GaugeMetricFamily(
        "intmax_indexing_cursor_age_seconds", HELP["intmax_indexing_cursor_age_seconds"], labels=STREAM_LABELS
    )
    for stream in reading.streams:
        labels = [stream.stream, str(stream.chain_id)]
        cursor.add_metric(labels, stream.cursor_block)
        lag.add_metric(labels, stream.lag_blocks)
        age.add_metric(labels, max(0.0, (now - stream.cursor_updated_at).total_seconds()))
    return [cursor, lag, age]
