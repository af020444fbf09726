"""When to send a scheduled announcement, as an organiser types it on a phone.

A minimal parser (no core/date_input.py existed when this was written): "morgen 9:00",
"vandaag 14:30", "tomorrow 9:00", "today 9:00" and "DD-MM HH:MM" (this year, or next year
when that day has passed), in the bot's time zone.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_RELATIVE = {"vandaag": 0, "today": 0, "morgen": 1, "tomorrow": 1, "overmorgen": 2}
_PATTERN = re.compile(
    r"^\s*(?:(?P<word>[a-z]+)|(?P<day>\d{1,2})[-/.](?P<month>\d{1,2}))"
    r"\s+(?:om\s+|at\s+)?(?P<hour>\d{1,2})[:.](?P<minute>\d{2})\s*(?:uur)?\s*$"
)


def parse_send_moment(text: str, now: datetime, zone: ZoneInfo) -> datetime | None:
    """The moment meant (timezone-aware), or None when it cannot be read."""
    match = _PATTERN.match(text.strip().lower())
    if match is None:
        return None
    hour, minute = int(match["hour"]), int(match["minute"])
    if hour > 23 or minute > 59:
        return None
    today = now.astimezone(zone).date()
    if match["word"] is not None:
        if match["word"] not in _RELATIVE:
            return None
        day = today + timedelta(days=_RELATIVE[match["word"]])
    else:
        try:
            day = date(today.year, int(match["month"]), int(match["day"]))
        except ValueError:
            return None
        if day < today:
            try:
                day = day.replace(year=today.year + 1)
            except ValueError:
                return None
    return datetime.combine(day, time(hour, minute), tzinfo=zone)
