"""Dates and times as Dutch organisers type them (core.date_input)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.date_input import is_weekend, parse_duration_minutes, parse_moment

ZONE = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)  # Monday 1 March 2027, 10:00 in Amsterdam


def at(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZONE)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("18 mei 14:00", at(2027, 5, 18, 14), None),
        ("18-5 14u", at(2027, 5, 18, 14), None),
        ("18/5 14:00", at(2027, 5, 18, 14), None),
        ("18.5 14u", at(2027, 5, 18, 14), None),
        ("18.5.2027 14.00", at(2027, 5, 18, 14), None),
        ("di 18 mei 14.00-16.00", at(2027, 5, 18, 14), at(2027, 5, 18, 16)),
        ("dinsdag 18 mei 14:00 - 16:00", at(2027, 5, 18, 14), at(2027, 5, 18, 16)),
        ("18 mei 14u-16u", at(2027, 5, 18, 14), at(2027, 5, 18, 16)),
        ("18 mei van 14:00 tot 16:30", at(2027, 5, 18, 14), at(2027, 5, 18, 16, 30)),
        ("2027-05-18 14:00", at(2027, 5, 18, 14), None),
        ("18 May 2027 2:30", at(2027, 5, 18, 2, 30), None),
        ("Tue 18 May 14:00", at(2027, 5, 18, 14), None),
        ("18 september 9:30", at(2027, 9, 18, 9, 30), None),
        ("18 sept 9:30", at(2027, 9, 18, 9, 30), None),
        ("3 okt 19u", at(2027, 10, 3, 19), None),
        ("3 oct 19:00", at(2027, 10, 3, 19), None),
        ("1 mrt 10:00", at(2027, 3, 1, 10), None),
        ("1 jan 10:00", at(2028, 1, 1, 10), None),  # next occurrence: next year
        ("1-2 10:00", at(2028, 2, 1, 10), None),
        ("29 februari 10:00", at(2028, 2, 29, 10), None),  # 2028 is a leap year
        ("18 mei om 14:00", at(2027, 5, 18, 14), None),
        ("18 mei, 14:00", at(2027, 5, 18, 14), None),
        ("morgen 10:00", at(2027, 3, 2, 10), None),
        ("overmorgen 14u", at(2027, 3, 3, 14), None),
        ("tomorrow 10:00", at(2027, 3, 2, 10), None),
        ("dinsdag 14:00", at(2027, 3, 2, 14), None),
        ("vrijdag 9u", at(2027, 3, 5, 9), None),
        ("volgende week dinsdag 10u", at(2027, 3, 9, 10), None),
        ("18/5/27 14:00", at(2027, 5, 18, 14), None),
        ("2026-05-18 14:00", at(2026, 5, 18, 14), None),  # a past date: the caller warns
    ],
)
def test_understood(text: str, start: datetime, end: datetime | None) -> None:
    moment = parse_moment(text, NOW, ZONE)
    assert moment.reason is None
    assert moment.start == start
    assert moment.end == end


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("bla bla", "unclear"),
        ("31 februari 14:00", "no_such_date"),
        ("30-2 14:00", "no_such_date"),
        ("2027-13-01 14:00", "no_such_date"),
        ("18 mei", "no_time"),
        ("14:00", "no_date"),
        ("18 mei 25:00", "no_such_time"),
        ("wo 18 mei 14:00", "weekday_mismatch"),
        ("18 mei 16:00-14:00", "end_before_start"),
        ("18 mei 14:00 in Utrecht", "unclear"),
    ],
)
def test_refused_with_a_reason(text: str, reason: str) -> None:
    moment = parse_moment(text, NOW, ZONE)
    assert moment.start is None and moment.reason == reason


def test_weekend() -> None:
    start = parse_moment("za 22 mei 10:00", NOW, ZONE).start
    assert start is not None and is_weekend(start)
    assert not is_weekend(at(2027, 5, 18, 14))


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("90 min", 90), ("1,5 uur", 90), ("2u", 120), ("1½", 90), ("3", 180), ("45", 45)],
)
def test_durations(text: str, minutes: int) -> None:
    assert parse_duration_minutes(text) == minutes


@pytest.mark.parametrize("text", ["lang", "0", "5 min", "30 uur", ""])
def test_bad_durations(text: str) -> None:
    assert parse_duration_minutes(text) is None
