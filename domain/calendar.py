"""Calendar math in the configured time zone: quarters (2026Q3) and the instants at which days and quarters end."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def quarter_of(day: dt.date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def parse_quarter(quarter: str) -> tuple[int, int]:
    year, _, number = quarter.partition("Q")
    if not (year.isdigit() and number in {"1", "2", "3", "4"}):
        raise ValueError(f"quarter {quarter!r} is not like 2026Q3")
    return int(year), int(number)


def next_quarter(quarter: str) -> str:
    year, number = parse_quarter(quarter)
    return f"{year + 1}Q1" if number == 4 else f"{year}Q{number + 1}"


def quarter_last_day(quarter: str) -> dt.date:
    """Mar 31, Jun 30, Sep 30 or Dec 31."""
    year, number = parse_quarter(quarter)
    first_of_next = dt.date(year + 1, 1, 1) if number == 4 else dt.date(year, 3 * number + 1, 1)
    return first_of_next - dt.timedelta(days=1)


def end_of_day(day: dt.date, timezone: str) -> dt.datetime:
    """The instant a local day is over: midnight at the start of the next day, as UTC."""
    midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=ZoneInfo(timezone))
    return midnight.astimezone(dt.timezone.utc)


def quarter_end(quarter: str, timezone: str) -> dt.datetime:
    """When the quarter is over in the configured time zone (its checkpoint opens then)."""
    return end_of_day(quarter_last_day(quarter), timezone)
