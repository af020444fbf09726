"""Calendar files (.ics) for a registration: stable UID, correct Europe/Amsterdam times.

The event's DESCRIPTION carries everything needed on the day (Google Calendar ignores the
URL field): the activity's description, the meeting link or the address, and the link back
to the bot. SEQUENCE grows with every change of the activity, so a calendar that already
holds the event replaces it when an updated file (same UID) arrives.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from core.context import MaoContext
from core.links import signup_link
from storage.activities import ActivityInfo

# SEQUENCE counts seconds since here: it grows with every change and stays a small integer.
SEQUENCE_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class CalendarLabels:
    """The words before the lines of the description, in the user's language."""

    online: str = "Online:"
    address: str = "Address:"
    bot: str = "MAO bot:"


def registration_uid(registration_id: int) -> str:
    """Stable per registration, so re-sending the file updates rather than duplicates."""
    return f"mao-registration-{registration_id}@aanpakmetandereogen.nl"


def sequence(activity: ActivityInfo) -> int:
    """Calendars take an updated event only with a higher SEQUENCE than the one they hold."""
    return max(0, int((activity.updated_at - SEQUENCE_EPOCH).total_seconds()))


def event_description(
    activity: ActivityInfo, language: str, labels: CalendarLabels, bot_username: str | None
) -> str:
    lines = [activity.description(language).strip()]
    details = []
    if activity.online_url:
        details.append(f"{labels.online} {activity.online_url}")
    if activity.location:
        details.append(f"{labels.address} {activity.location}")
    if bot_username:
        details.append(f"{labels.bot} {signup_link(bot_username, activity.slug)}")
    lines.append("\n".join(details))
    return "\n\n".join(line for line in lines if line)


def activity_ics(
    activity: ActivityInfo,
    registration_id: int,
    language: str,
    zone: ZoneInfo,
    stamp: datetime,
    *,
    labels: CalendarLabels | None = None,
    bot_username: str | None = None,
) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", "-//Met Andere Ogen//MAO bot//NL")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = Event()
    event.add("uid", registration_uid(registration_id))
    event.add("sequence", sequence(activity))
    event.add("dtstamp", stamp)
    event.add("dtstart", activity.starts_at.astimezone(zone))
    event.add("dtend", activity.ends_at.astimezone(zone))
    event.add("summary", activity.title(language))
    description = event_description(activity, language, labels or CalendarLabels(), bot_username)
    if description:
        event.add("description", description)
    if activity.online_url:
        event.add("url", activity.online_url)
    event.add("location", activity.location or activity.online_url or "")
    calendar.add_component(event)
    calendar.add_missing_timezones()
    return bytes(calendar.to_ical())


def calendar_file(
    activity: ActivityInfo, registration_id: int, context: MaoContext, stamp: datetime
) -> tuple[bytes, str]:
    """The file (content, name) for the user of `context`, in their language."""
    labels = CalendarLabels(
        online=context.text("calendar_online"),
        address=context.text("calendar_address"),
        bot=context.text("calendar_bot"),
    )
    data = activity_ics(
        activity,
        registration_id,
        context.language,
        context.services.config.zone,
        stamp,
        labels=labels,
        # Known once the bot has introduced itself to Telegram (getMe at start).
        bot_username=context.bot.username,
    )
    return data, ics_filename(activity)


def ics_filename(activity: ActivityInfo) -> str:
    return f"mao-{activity.slug}.ics"
