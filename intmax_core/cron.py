"""Five-field cron expressions: validation (for settings) and the longest gap between firings.

Shared by the schedule settings (token prices, minting), without Dagster (intmax_core imports no Dagster):
numbers, `*`, ranges `a-b`, steps `*/n` and `a-b/n`, and comma lists; no month or day names.
As in cron, when both day-of-month and day-of-week are restricted a day matching either fires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

# (name, lowest, highest) of the five fields; day-of-week 7 is Sunday, as 0.
FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
# Far enough ahead to see two firings of any schedule that fires at least monthly (a yearly one
# counts as this long). Scanning it minute by minute takes a fraction of a second.
GAP_HORIZON = timedelta(days=32)


class CronError(ValueError):
    pass


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_restricted: bool
    weekdays_restricted: bool

    def fires_at(self, moment: datetime) -> bool:
        if moment.minute not in self.minutes or moment.hour not in self.hours or moment.month not in self.months:
            return False
        day_ok = moment.day in self.days
        weekday_ok = (moment.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return day_ok or weekday_ok
        return day_ok and weekday_ok


def _field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        try:
            step = int(step_text) if step_text else 1
            if base == "*":
                start, end = low, high
            elif "-" in base:
                first, last = base.split("-", 1)
                start, end = int(first), int(last)
            else:
                start = end = int(base)
                if step_text:  # "5/10" means from 5 to the end, every 10
                    end = high
        except ValueError:
            raise CronError(f"{name} field {part!r} is not a number, range or step") from None
        if step < 1 or not low <= start <= end <= high:
            raise CronError(f"{name} field {part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse_cron(expression: str) -> Cron:
    """Parse a five-field cron expression; raise CronError naming the bad field."""
    parts = expression.split()
    if len(parts) != len(FIELDS):
        raise CronError(f"must have 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}")
    sets = [_field(part, name, low, high) for part, (name, low, high) in zip(parts, FIELDS, strict=True)]
    weekdays = frozenset(day % 7 for day in sets[4])
    return Cron(sets[0], sets[1], sets[2], sets[3], weekdays, parts[2] != "*", parts[4] != "*")


def longest_gap(expression: str, start: datetime | None = None) -> timedelta:
    """The longest time between two firings (UTC) in the next GAP_HORIZON; GAP_HORIZON if it fires once or never."""
    cron = parse_cron(expression)
    moment = (start or datetime.now(UTC)).replace(second=0, microsecond=0)
    end = moment + GAP_HORIZON
    previous: datetime | None = None
    gap = timedelta(0)
    while moment < end:
        if cron.fires_at(moment):
            if previous is not None:
                gap = max(gap, moment - previous)
            previous = moment
        moment += timedelta(minutes=1)
    return gap if gap > timedelta(0) else GAP_HORIZON
