"""Dates and times written out for people, in Dutch or English, with Babel."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time

LOCALES = {"nl": "nl_NL", "en": "en_GB"}


def format_datetime(moment: datetime, language: str, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    locale = LOCALES.get(language, "nl_NL")
    day = format_date(local, "EEEE d MMMM y", locale=locale)
    return f"{day}, {format_time(local, 'HH:mm', locale=locale)}"


def format_date_only(moment: datetime, language: str, zone: ZoneInfo) -> str:
    """E.g. 'dinsdag 18 mei 2027': for times kept only to the day (anonymous messages)."""
    return format_date(
        moment.astimezone(zone), "EEEE d MMMM y", locale=LOCALES.get(language, "nl_NL")
    )


def start_of_day(moment: datetime, zone: ZoneInfo) -> datetime:
    """Midnight of the moment's day where the programme is: a time kept only to the day."""
    local = moment.astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(moment.tzinfo)


def format_short_date(moment: datetime, language: str, zone: ZoneInfo) -> str:
    """E.g. 'di 18 mei', for a button label."""
    local = moment.astimezone(zone)
    return format_date(local, "EEE d MMM", locale=LOCALES.get(language, "nl_NL"))


def format_period(
    start: datetime, end: datetime, language: str, zone: ZoneInfo, *, with_zone: bool = False
) -> str:
    """E.g. 'dinsdag 18 mei 2027, 14:00–16:00': the time as the clocks in the Netherlands
    show it. `with_zone` adds ' (CEST)' for readers who may be elsewhere."""
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    locale = LOCALES.get(language, "nl_NL")
    day = format_date(local_start, "EEEE d MMMM y", locale=locale)
    hours = f"{local_start:%H:%M}–{local_end:%H:%M}"
    if local_end.date() != local_start.date():
        end_day = format_date(local_end, "EEEE d MMMM y", locale=locale)
        hours = f"{local_start:%H:%M} – {end_day}, {local_end:%H:%M}"
    text = f"{day}, {hours}"
    return f"{text} ({local_start.tzname()})" if with_zone else text
