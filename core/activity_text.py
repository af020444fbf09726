"""How an activity is written out in messages (shared by agenda, sign-up and notices)."""

from __future__ import annotations

from datetime import datetime

from core.context import MaoContext
from core.dates import format_datetime, format_period
from core.i18n import Html
from storage.activities import ActivityInfo


def period(activity: ActivityInfo, context: MaoContext) -> str:
    zone = context.services.config.zone
    return format_period(activity.starts_at, activity.ends_at, context.language, zone)


def moment(when: datetime, context: MaoContext) -> str:
    return format_datetime(when, context.language, context.services.config.zone)


def place(activity: ActivityInfo) -> str:
    parts = [p for p in (activity.location, activity.online_url) if p]
    return " · ".join(parts)


def seats(activity: ActivityInfo, context: MaoContext) -> str:
    if activity.places_left is None:
        return context.text("seats_unlimited")
    if activity.places_left == 0:
        return context.text("seats_full", waiting=activity.waiting)
    return context.text("seats_left", left=activity.places_left)


def describe(
    activity: ActivityInfo,
    context: MaoContext,
    *,
    with_seats: bool = True,
    with_description: bool = False,
) -> str:
    """Title, date, place (and seats): the block used everywhere an activity is shown."""
    language = context.language
    text = context.text(
        "activity_block",
        title=activity.title(language),
        kind=context.text(f"kind_{activity.kind.replace('-', '_')}"),
        period=period(activity, context),
        place=place(activity),
    )
    text += "\n" + context.text(f"audience_for_{activity.audience}")
    if activity.is_sample:
        text += "\n" + context.text("activity_sample")
    if with_description and activity.description(language):
        text += "\n" + context.text("activity_description", text=activity.description(language))
    if with_seats:
        text += "\n" + Html(seats(activity, context))
    return text
