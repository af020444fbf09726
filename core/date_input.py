"""Dates and times typed the way Dutch people write them: "18 mei 14:00", "18-5 14u",
"di 18 mei 14.00-16.00", "2027-05-18 14:00", "morgen 10:00". Plain functions, no Telegram.

parse_moment gives a start (and an end when a range was typed) or a reason code the
caller turns into a question with an example. A date without a year is its next
occurrence; whether a moment is in the past or on a weekend is for the caller to warn
about (an organiser may mean it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        ("januari", "jan", "january"),
        ("februari", "feb", "february"),
        ("maart", "mrt", "maa", "march", "mar"),
        ("april", "apr"),
        ("mei", "may"),
        ("juni", "jun", "june"),
        ("juli", "jul", "july"),
        ("augustus", "aug", "august"),
        ("september", "sep", "sept"),
        ("oktober", "okt", "october", "oct"),
        ("november", "nov"),
        ("december", "dec"),
    ),
    start=1,
):
    for _name in _names:
        MONTHS[_name] = _number

WEEKDAYS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        ("maandag", "ma", "monday", "mon"),
        ("dinsdag", "di", "tuesday", "tue", "tues"),
        ("woensdag", "wo", "wednesday", "wed"),
        ("donderdag", "do", "thursday", "thu", "thur", "thurs"),
        ("vrijdag", "vr", "friday", "fri"),
        ("zaterdag", "za", "saturday", "sat"),
        ("zondag", "zo", "sunday", "sun"),
    )
):
    for _name in _names:
        WEEKDAYS[_name] = _number

# An activity is planned at most this many years ahead (or looked back on).
MAX_YEARS_AWAY = 5
RELATIVE_DAYS = {"vandaag": 0, "today": 0, "morgen": 1, "tomorrow": 1, "overmorgen": 2}
# Words that may stand around a date without meaning anything for it.
FILLER = {"om", "at", "van", "from", "op", "on", "uur", "u", "h", "de", "the", "vanaf"}

_MONTH_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))
ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
NAMED_DATE = re.compile(rf"\b(\d{{1,2}})\s*(?:e\s+)?({_MONTH_NAMES})\.?(?:\s+(\d{{4}}))?\b")
NUMERIC_DATE = re.compile(r"\b(\d{1,2})[-/](\d{1,2})(?:[-/](\d{2}|\d{4}))?\b")
# "18.5 14u": with dots only when a time follows, so "14.00" stays a time.
DOTTED_DATE = re.compile(r"\b(\d{1,2})\.(\d{1,2})(?:\.(\d{4}))?(?=\s+\S*\d)")
_CLOCK = r"(\d{1,2})(?:[:.](\d{2}))?\s*(?:u|uur|h)?"
TIME_RANGE = re.compile(rf"\b{_CLOCK}\s*(?:-|–|tot|to|till|until)\s*{_CLOCK}(?![\d])")
TIME = re.compile(r"\b(\d{1,2})[:.](\d{2})\b|\b(\d{1,2})\s*(?:u|uur|h)\b")
NEXT_WEEK = re.compile(r"\b(volgende week|next week)\b")


@dataclass(frozen=True)
class Moment:
    """A start (aware, in the configured zone) and, for a typed range, an end; or why not.

    reason: "empty", "no_date", "no_time", "no_such_date", "no_such_time",
    "weekday_mismatch", "end_before_start", "too_far" or "unclear"."""

    start: datetime | None = None
    end: datetime | None = None
    reason: str | None = None


def _time(hour: str, minute: str | None) -> time | None:
    h, m = int(hour), int(minute or 0)
    if h > 23 or m > 59:
        return None
    return time(h, m)


def _next_occurrence(day: int, month: int, today: date) -> date | None:
    for year in (today.year, today.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    return None


def _full_year(text: str) -> int:
    year = int(text)
    return year + 2000 if year < 100 else year


def _date_from(found: re.Match[str], month: int, year: str | None, today: date) -> date | None:
    day = int(found.group(1))
    if year:
        try:
            return date(_full_year(year), month, day)
        except ValueError:
            return None
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        return None
    # 31 februari has no next occurrence either.
    return _next_occurrence(day, month, today)


def parse_moment(text: str, now: datetime, zone: ZoneInfo) -> Moment:
    rest = " " + text.lower().replace(",", " ").strip() + " "
    if not rest.strip():
        return Moment(reason="empty")
    today = now.astimezone(zone).date()
    day: date | None = None
    bad_date = False

    def cut(found: re.Match[str]) -> None:
        nonlocal rest
        rest = rest[: found.start()] + " " + rest[found.end() :]

    for pattern in (ISO_DATE, NAMED_DATE, NUMERIC_DATE, DOTTED_DATE):
        found = pattern.search(rest)
        if found is None:
            continue
        if pattern is ISO_DATE:
            try:
                day = date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
            except ValueError:
                bad_date = True
        else:
            month = MONTHS[found.group(2)] if pattern is NAMED_DATE else int(found.group(2))
            day = _date_from(found, month, found.group(3), today)
            bad_date = day is None
        cut(found)
        break

    start_time: time | None = None
    end_time: time | None = None
    found = TIME_RANGE.search(rest)
    if found is not None:
        start_time = _time(found.group(1), found.group(2))
        end_time = _time(found.group(3), found.group(4))
        if start_time is None or end_time is None:
            return Moment(reason="no_such_time")
        cut(found)
    else:
        found = TIME.search(rest)
        if found is not None:
            if found.group(1) is not None:
                start_time = _time(found.group(1), found.group(2))
            else:
                start_time = _time(found.group(3), None)
            if start_time is None:
                return Moment(reason="no_such_time")
            cut(found)

    next_week = NEXT_WEEK.search(rest)
    if next_week is not None:
        cut(next_week)
    weekday: int | None = None
    for word in re.findall(r"[a-z]+\.?|\S", rest):
        word = word.rstrip(".")
        if word in WEEKDAYS:
            weekday = WEEKDAYS[word]
        elif word in RELATIVE_DAYS and day is None:
            day = today + timedelta(days=RELATIVE_DAYS[word])
        elif word not in FILLER and word not in {"-", "–", "."}:
            return Moment(reason="unclear")

    if bad_date:
        return Moment(reason="no_such_date")
    if day is None and weekday is not None:
        if next_week is not None:
            monday = today - timedelta(days=today.weekday()) + timedelta(days=7)
            day = monday + timedelta(days=weekday)
        else:
            day = today + timedelta(days=(weekday - today.weekday()) % 7)
    elif day is not None and weekday is not None and day.weekday() != weekday:
        return Moment(reason="weekday_mismatch")
    if day is None:
        return Moment(reason="no_date")
    if abs(day.year - today.year) > MAX_YEARS_AWAY:
        # Year 9999 would overflow as soon as a duration or a time zone is added to it.
        return Moment(reason="too_far")
    if start_time is None:
        return Moment(reason="no_time")
    start = datetime.combine(day, start_time, tzinfo=zone)
    if end_time is None:
        return Moment(start=start)
    end = datetime.combine(day, end_time, tzinfo=zone)
    if end <= start:
        return Moment(reason="end_before_start")
    return Moment(start=start, end=end)


DURATION = re.compile(
    r"^\s*(\d{1,5}(?:[.,]\d{1,3})?|½|1½|2½)\s*(min|minuten|minutes|m|u|uur|h|hours?|hrs?)?\s*$"
)


def parse_duration_minutes(text: str) -> int | None:
    """ "90 min", "1,5 uur", "2u", "1½" -> minutes; None when unclear or not 10 min–24 h."""
    found = DURATION.match(text.lower())
    if found is None:
        return None
    number = float(found.group(1).replace(",", ".").replace("½", ".5").lstrip(".") or "0")
    if found.group(1) == "½":
        number = 0.5
    unit = found.group(2) or ("min" if number > 12 else "uur")
    minutes = round(number if unit.startswith("m") else number * 60)
    return minutes if 10 <= minutes <= 24 * 60 else None


def is_weekend(moment: datetime) -> bool:
    return moment.weekday() >= 5
