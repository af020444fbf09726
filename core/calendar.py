"""Calendar files (.ics) for a registration: stable UID, correct Europe/Amsterdam times."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from storage.activities import ActivityInfo


def registration_uid(registration_id: int) -> str:
    """Stable per registration, so re-sending the file updates rather than duplicates."""
    return f"mao-registration-{registration_id}@aanpakmetandereogen.nl"


def activity_ics(
    activity: ActivityInfo,
    registration_id: int,
    language: str,
    zone: ZoneInfo,
    stamp: datetime,
) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//Met Andere Ogen//MAO bot//NL")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", registration_uid(registration_id))
    event.add("dtstamp", stamp)
    event.add("dtstart", activity.starts_at.astimezone(zone))
    event.add("dtend", activity.ends_at.astimezone(zone))
    event.add("summary", activity.title(language))
    description = activity.description(language)
    if activity.online_url:
        description = f"{description}\n\n{activity.online_url}".strip()
        event.add("url", activity.online_url)
    if description:
        event.add("description", description)
    event.add("location", activity.location or activity.online_url or "")
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return bytes(calendar.to_ical())


def ics_filename(activity: ActivityInfo) -> str:
    return f"mao-{activity.slug}.ics"
