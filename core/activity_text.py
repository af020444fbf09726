"""How an activity is written out in messages (shared by agenda, sign-up and notices)."""

from __future__ import annotations

import re
from datetime import datetime

from core import callbacks
from core.context import MaoContext
from core.dates import format_datetime, format_period, format_short_date
from core.i18n import Html
from core.keyboards import Button, shorten
from storage.activities import ActivityInfo
from storage.registrations import UserRegistration
from storage.vocabulary import Audience, RegistrationStatus

# core.keyboards.keyboard cuts labels at this length; a choice label fits its date and
# place (and marker) in it by shortening the title.
LABEL_LIMIT = 60
MIN_TITLE = 14
SHORT_PLACE = 20
MIN_PLACE = 8  # a shortened place keeps its first word or so: "Plaats…"
POSTCODE = re.compile(r"^\d{4}\s?[A-Za-z]{2}\s+")
# A meeting link typed into the address (a file's `location: https://teams…`) is a link too.
LINK = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)


def shows_zone(context: MaoContext) -> bool:
    """Whether times get their zone, "(CEST)".

    Parents in the Netherlands read "14:00" as Dutch time and "(CEST)" means nothing to
    them; the zone helps only someone who may be elsewhere. Telegram's language_code is
    not kept (owed messages are written without an update), so the language the bot writes
    in stands for it: it is English only when the user chose it or their Telegram is
    English."""
    return context.language != "nl"


def period(activity: ActivityInfo, context: MaoContext) -> str:
    zone = context.services.config.zone
    return format_period(
        activity.starts_at,
        activity.ends_at,
        context.language,
        zone,
        with_zone=shows_zone(context),
    )


def moment(when: datetime, context: MaoContext) -> str:
    return format_datetime(when, context.language, context.services.config.zone)


def place(activity: ActivityInfo, context: MaoContext, *, with_link: bool = False) -> str:
    """The address and the meeting link. The link only `with_link` (someone with a seat, an
    organiser): a meeting link in a public listing lets anyone in, so everyone else reads
    that they get it after signing up."""
    if with_link:
        parts = [p for p in (activity.location, activity.online_url) if p]
        return " · ".join(parts)
    location = address(activity)
    parts = [location] if location else []
    if is_online(activity):
        parts.append(context.text("activity_online_after_signup"))
    return " · ".join(parts)


def address(activity: ActivityInfo) -> str:
    """The address without any link in it (empty for an activity that is only online)."""
    return " ".join(LINK.sub(" ", activity.location or "").split()).strip(" ,-·")


def is_online(activity: ActivityInfo) -> bool:
    """Whether one can take part online (a meeting link, also one typed as the address)."""
    return bool(activity.online_url or LINK.search(activity.location or ""))


def short_place(activity: ActivityInfo, context: MaoContext) -> str:
    """The town of the address ("Karakter, Arnhem" -> "Arnhem"), or "online"."""
    location = address(activity)
    if not location:
        return context.text("activity_online" if is_online(activity) else "activity_no_place")
    town = POSTCODE.sub("", location.rsplit(",", 1)[-1].strip())
    return shorten(town or location, SHORT_PLACE)


def choice_marker(
    activity: ActivityInfo, held: UserRegistration | None, context: MaoContext
) -> str | None:
    """What a button to an activity should say besides title, date and place: the user's
    own place in it, or that only the waiting list is left."""
    if held is not None and held.status == RegistrationStatus.REGISTERED:
        return context.text("choice_registered")
    if held is not None and held.status == RegistrationStatus.OFFERED:
        return context.text("choice_offered")
    if held is not None and held.status == RegistrationStatus.WAITING:
        return context.text("choice_waiting", position=held.position or 0)
    if activity.places_left == 0:
        return context.text("choice_full")
    return None


def choice_label(
    activity: ActivityInfo, context: MaoContext, held: UserRegistration | None = None
) -> str:
    """A button label that tells apart sessions of the same title, e.g.
    "Schone Lei · di 18 mei · Arnhem" (plain text: labels are not HTML)."""
    title = activity.title(context.language)
    when = format_short_date(activity.starts_at, context.language, context.services.config.zone)
    where: str | None = short_place(activity, context)
    if where is not None and where.lower() in title.lower():
        where = None
    marker = choice_marker(activity, held, context)

    def tail(place: str | None) -> str:
        return "".join(f" · {detail}" for detail in (when, place, marker) if detail)

    if where is not None and len(title + tail(where)) > LABEL_LIMIT:
        # The title says what it is: the place is shortened first ("Plaats…"), the title
        # only when that is not enough.
        room = LABEL_LIMIT - len(title + tail(None)) - len(" · ")
        where = shorten(where, max(MIN_PLACE, room))
    rest = tail(where)
    return shorten(title, max(MIN_TITLE, LABEL_LIMIT - len(rest))) + rest


def signup_button(activity: ActivityInfo, context: MaoContext) -> Button:
    """ "Aanmelden: <title>", or "Wachtlijst: <title>" when it is full."""
    # Labels are plain text: the title goes in unescaped.
    title = Html(shorten(activity.title(context.language), 40))
    key = "agenda_waitlist_button" if activity.places_left == 0 else "agenda_signup_button"
    return (context.text(key, title=title), callbacks.SIGNUP_PICK.data(activity=activity.id))


def your_place(held: UserRegistration | None, context: MaoContext) -> str | None:
    """The line an activity block gets when the user has a place in it."""
    if held is None:
        return None
    if held.status == RegistrationStatus.REGISTERED:
        return context.text("block_registered")
    if held.status == RegistrationStatus.OFFERED:
        return context.text("block_offered")
    if held.status == RegistrationStatus.WAITING:
        return context.text("block_waiting", position=held.position or 0)
    return None


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
    with_link: bool = False,
) -> str:
    """Title, date, place (and seats): the block used everywhere an activity is shown. The
    meeting link of an online activity only `with_link` (see `place`)."""
    language = context.language
    text = context.text(
        "activity_block",
        title=activity.title(language),
        kind=context.text(f"kind_{activity.kind.replace('-', '_')}"),
        period=period(activity, context),
        place=place(activity, context, with_link=with_link) or context.text("activity_no_place"),
    )
    # An example shows only what its source gives: no audience, and no seats unless a
    # capacity was given (activities.yaml gives none).
    if not activity.is_sample:
        strict = activity.audience_strict and activity.audience != Audience.IEDEREEN
        text += "\n" + context.text(f"audience_{'only' if strict else 'for'}_{activity.audience}")
    if activity.is_sample:
        text += "\n" + context.text("activity_sample")
    if with_description and activity.description(language):
        text += "\n" + context.text("activity_description", text=activity.description(language))
    if with_seats and not (activity.is_sample and activity.places_left is None):
        text += "\n" + Html(seats(activity, context))
    return text
