"""Check-in at the door: /incheck (/checkin) for organisers, and a QR code for attendees.

The organiser taps a person to move them on (◻️ not yet -> ✅ present -> ❌ absent); the list
is edited in place. Attendees scan t.me/<bot>?start=checkin_<code> and are marked present
when they hold a seat. The code is the day's (storage/registrations.py: door_code): it works
from DOOR_WINDOW before the start (not before that day) until the activity ends, so a QR
code seen at the door does not check anyone in from home another day.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy.orm import Session
from telegram import InlineKeyboardMarkup, InputFile, Update
from telegram.ext import CallbackQueryHandler, CommandHandler, filters

from core import callbacks
from core.context import Handlers, MaoContext
from core.dates import format_datetime
from core.keyboards import Button, keyboard, one_per_row
from core.links import checkin_link, qr_png
from core.organiser_refusal import activity_label
from core.replies import edit_pressed, pressed, reply
from core.roles import organisers_only
from core.text_limits import plain_name
from storage.activities import ActivityInfo, get_activity_by_id
from storage.activities import recent_and_upcoming as activities_around
from storage.registrations import (
    CheckIn,
    DoorEntry,
    Turnout,
    check_in_by_code,
    door_code,
    door_list,
    toggle_attendance,
    turnout,
)
from storage.vocabulary import Status

logger = logging.getLogger(__name__)
# The door opens this long before the start (but not before that day); /incheck lists what
# starts within it or ended within it.
DOOR_WINDOW = timedelta(hours=4)
DEEP_LINK = r"^/start checkin_[A-Za-z0-9_-]{4,32}$"
MARKS = {True: "✅", False: "❌", None: "◻️"}
# Telegram shows at most 100 buttons per message; the workbook of /deelnemers has everyone.
MAX_PEOPLE = 90


class DoorView(NamedTuple):
    activity: ActivityInfo
    people: list[DoorEntry]
    counts: Turnout


def _at_the_door(session: Session, now: datetime) -> list[ActivityInfo]:
    return [
        a for a in activities_around(session, now, DOOR_WINDOW) if a.status == Status.PUBLISHED
    ]


@organisers_only
async def choose_activity(update: Update, context: MaoContext) -> None:
    services = context.services
    now = services.now()
    activities = await services.db.run_reading(_at_the_door, now)
    if not activities:
        await reply(update, context, context.text("checkin_none"))
        return
    today = now.astimezone(services.config.zone).date()
    # Today's activities first, then the rest soonest first.
    activities.sort(
        key=lambda a: (a.starts_at.astimezone(services.config.zone).date() != today, a.starts_at)
    )
    buttons: list[Button] = [
        (activity_label(context, a), callbacks.CHECKIN_OF.data(activity=a.id))
        for a in activities[:20]
    ]
    await reply(update, context, context.text("checkin_choose"), one_per_row(buttons))


def _door_markup(activity_id: int, people: list[DoorEntry]) -> InlineKeyboardMarkup | None:
    rows: list[Sequence[Button]] = [
        [
            (
                f"{MARKS[p.attended]} {plain_name(p.name)}"[:60],
                callbacks.CHECKIN_TOGGLE.data(
                    activity=activity_id, registration=p.registration_id
                ),
            )
        ]
        for p in people[:MAX_PEOPLE]
    ]
    return keyboard(rows) if rows else None


def _door_text(context: MaoContext, activity: ActivityInfo, counts: Turnout) -> str:
    return context.text(
        "checkin_list",
        title=activity.title(context.language),
        when=format_datetime(activity.starts_at, context.language, context.services.config.zone),
        present=counts.present,
        absent=counts.absent,
        unknown=counts.unknown,
    )


def _door(session: Session, activity_id: int) -> DoorView | None:
    activity = get_activity_by_id(session, activity_id)
    if activity is None:
        return None
    return DoorView(activity, door_list(session, activity_id), turnout(session, activity_id))


async def _show_door(update: Update, context: MaoContext, activity_id: int) -> bool:
    door = await context.services.db.run_reading(_door, activity_id)
    if door is None:
        return False
    activity, people, counts = door
    await edit_pressed(
        update, context, _door_text(context, activity, counts), _door_markup(activity_id, people)
    )
    return True


@organisers_only
async def open_door(update: Update, context: MaoContext) -> None:
    query = await pressed(update)
    activity_id = int(context.matched("activity"))
    if not await _show_door(update, context, activity_id):
        await reply(update, context, context.text("signup_not_found"))
        return
    services = context.services
    # Writes the activity's secret on first use.
    code = await services.db.run_session(
        door_code, activity_id, services.now(), services.config.zone
    )
    link = checkin_link(context.bot.username, code)
    # A QR code to print or show at the door; scanning it opens the bot and checks in.
    await context.bot.send_photo(
        query.from_user.id,
        InputFile(qr_png(link), filename="incheck.png"),
        caption=context.text("checkin_qr", link=link),
    )


@organisers_only
async def toggle(update: Update, context: MaoContext) -> None:
    await pressed(update)
    activity_id = int(context.matched("activity"))
    services = context.services
    done = await services.db.run_session(
        toggle_attendance, activity_id, int(context.matched("registration")), services.now()
    )
    if not done:
        await reply(update, context, context.text("stale_button"))
        return
    await _show_door(update, context, activity_id)


async def scanned(update: Update, context: MaoContext) -> None:
    """t.me/<bot>?start=checkin_<code>: the attendee checks themselves in."""
    message = update.effective_message
    user = update.effective_user
    assert message is not None and message.text is not None and user is not None
    code = message.text.split("checkin_", 1)[1]
    services = context.services
    result = await services.db.run_session(
        check_in_by_code, code, user.id, services.now(), services.config.zone, DOOR_WINDOW
    )
    title = result.activity.title(context.language) if result.activity else ""
    key = {
        CheckIn.PRESENT: "checkin_welcome",
        CheckIn.ALREADY: "checkin_already",
        CheckIn.NOT_REGISTERED: "checkin_not_registered",
        CheckIn.UNKNOWN_CODE: "checkin_unknown",
        CheckIn.TOO_EARLY: "checkin_too_early",
        CheckIn.ENDED: "checkin_ended",
    }[result.outcome]
    opens = result.opens_at
    when = format_datetime(opens, context.language, services.config.zone) if opens else ""
    logger.info("Check-in by code: %s", result.outcome.value)
    await reply(update, context, context.text(key, title=title, opens=when))


def build_deep_link_handlers() -> Handlers:
    """Before the generic /start (and the sign-up conversation's deep links)."""
    return [CommandHandler("start", scanned, filters=filters.Regex(DEEP_LINK))]


def build_handlers() -> Handlers:
    return [
        CommandHandler(["incheck", "checkin"], choose_activity),
        CallbackQueryHandler(open_door, pattern=callbacks.CHECKIN_OF.pattern),
        CallbackQueryHandler(toggle, pattern=callbacks.CHECKIN_TOGGLE.pattern),
    ]
