"""The refresh schedule of a daily-partitioned statistics asset: today, and yesterday after midnight.

A day's figures keep changing while its items move on (a deposit processed, a withdrawal paid),
so today's partition is refreshed at INTMAX_DAILY_STATS_CRON (hourly by default), and in the
first hour of a day yesterday's is refreshed once more to settle late changes. Older days are
backfills from the UI.

The asset builders call `build_daily_refresh_schedule(asset, first_day, settings.daily_stats_cron)`
and hand the schedule's job to their sensors.
"""

from datetime import UTC, date, datetime, timedelta

import dagster as dg


def build_daily_refresh_schedule(asset: str, first_day: date, cron: str) -> dg.ScheduleDefinition:
    """The schedule of `asset`'s `{asset}_job` at `cron` (INTMAX_DAILY_STATS_CRON)."""
    job = dg.define_asset_job(f"{asset}_job", selection=[asset])

    @dg.schedule(
        name=f"{asset}_schedule",
        job=job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Refreshes today's {asset} at INTMAX_DAILY_STATS_CRON ({cron}), and yesterday's in the "
        "first hour of a day.",
    )
    def _schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        moment = (context.scheduled_execution_time or datetime.now(UTC)).astimezone(UTC)
        today = moment.date()
        days = [today - timedelta(days=1), today] if moment.hour == 0 else [today]
        stamp = moment.strftime("%Y-%m-%dT%H:%M")
        return [
            dg.RunRequest(run_key=f"{d.isoformat()}@{stamp}", partition_key=d.isoformat())
            for d in days
            if d >= first_day
        ]

    return _schedule
