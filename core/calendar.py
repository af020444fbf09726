"""Calendar files (.ics) for a registration: stable UID, correct Europe/Amsterdam times.

The event's DESCRIPTION carries everything needed on the day (Google Calendar ignores the
URL field): the activity's description, the meeting link or the address, and the link back
to the bot. SEQUENCE grows with every change of the activity and of the seat, so a calendar
that already holds the event replaces it when an updated file (same UID) arrives, and a file
with METHOD:CANCEL (a seat given up, an activity cancelled) takes it out again; a seat taken
again later comes back with a still higher SEQUENCE.
"""

from __future__ import annotations

import re
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


# A slug made in the chat ends with the activity's first date ("fieldlab-2027-05-18", or
# "-2" after it when taken): the file name carries the date it is on now instead.
SLUG_DATE = re.compile(r"-\d{4}-\d{2}-\d{2}(-\d+)?$")


def registration_uid(registration_id: int) -> str:
    """Stable per registration, which is one per activity and person (a unique constraint;
    signing up again reuses it), so re-sending the file updates rather than duplicates."""
    return f"mao-registration-{registration_id}@aanpakmetandereogen.nl"


def sequence(activity: ActivityInfo, seat_changed_at: datetime | None = None) -> int:
    """Calendars take an updated event only with a higher SEQUENCE than the one they hold:
    the latest change of the activity or of the seat (taken, or given up), in seconds."""
    latest = max(activity.updated_at, seat_changed_at or activity.updated_at)
    return max(0, int((latest - SEQUENCE_EPOCH).total_seconds()))


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
    seat_changed_at: datetime | None = None,
    cancel: bool = False,
) -> bytes:
    """The event of a seat (`cancel`: its cancellation, which removes it from a calendar
    that holds the same UID with a lower SEQUENCE)."""
    calendar = Calendar()
    calendar.add("prodid", "-//Met Andere Ogen//MAO bot//NL")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancel else "PUBLISH")
    event = Event()
    event.add("uid", registration_uid(registration_id))
    event.add("sequence", sequence(activity, seat_changed_at))
    if cancel:
        event.add("status", "CANCELLED")
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
    activity: ActivityInfo,
    registration_id: int,
    context: MaoContext,
    stamp: datetime,
    *,
    seat_changed_at: datetime | None = None,
    cancel: bool = False,
) -> tuple[bytes, str]:
    """The file (content, name) for the user of `context`, in their language."""
    labels = CalendarLabels(
        online=context.text("calendar_online"),
        address=context.text("calendar_address"),
        bot=context.text("calendar_bot"),
    )
    zone = context.services.config.zone
    data = activity_ics(
        activity,
        registration_id,
        context.language,
        zone,
        stamp,
        labels=labels,
        # Known once the bot has introduced itself to Telegram (getMe at start).
        bot_username=context.bot.username,
        seat_changed_at=seat_changed_at,
        cancel=cancel,
    )
    return data, ics_filename(activity, zone, cancel=cancel)


def ics_filename(activity: ActivityInfo, zone: ZoneInfo, *, cancel: bool = False) -> str:
    """E.g. mao-fieldlab-samen-2027-05-25.ics: the date it is on now (after a move, the new
    one), so a file saved next to an older one is told apart."""
    stem = SLUG_DATE.sub("", activity.slug) or "activiteit"
    day = activity.starts_at.astimezone(zone).date().isoformat()
    return f"mao-{stem}-{day}{'-cancel' if cancel else ''}.ics"
