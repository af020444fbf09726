"""Organisers publish and manage activities from the chat.

/nieuweactiviteit (/newevent): a guided conversation (title, kind, date and time as people
type them, duration, place or link, places, waiting list, audience, description), then a
preview exactly as users will see it, to publish, change or discard.

/activiteiten (/events_admin, /manage): the upcoming activities, each with change, move,
close or open registration, cancel (with confirmation), a copy on a new date, and the
share link with its QR code. Moves and cancellations go through storage.activities, which
owes every affected person one message and re-plans reminders.

Every command and button checks the organiser role again: callback data is never trusted.
The draft lives in user_data["organiser_activity"] as JSON-safe values (persisted).
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime, timedelta
from enum import IntEnum
from functools import wraps
from typing import Any, NamedTuple

from sqlalchemy.orm import Session
from telegram import InputFile, Update
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from core import callbacks
from core.activity_text import choice_label, describe, moment, period
from core.context import Handlers, MaoContext, state_handlers
from core.date_input import Moment, is_weekend, parse_duration_minutes, parse_moment
from core.keyboards import Button, keyboard, one_per_row
from core.links import checkin_link, qr_png, signup_link
from core.replies import close_buttons, reply
from core.roles import organisers_only
from core.text_limits import clean_text
from storage.activities import (
    ActivityInfo,
    MoveReach,
    cancel_activity_in_chat,
    create_activity,
    duplicate_activity,
    get_activity_by_id,
    move_reach,
    organiser_activities,
    reopen_activity_in_chat,
    set_registration_closed,
    update_activity,
)
from storage.registrations import door_code
from storage.vocabulary import Audience, Kind, Status, WaitlistMode

logger = logging.getLogger(__name__)
DRAFT = "organiser_activity"
END = ConversationHandler.END
MAX_TITLE = 200
MAX_PLACE = 300
MAX_URL = 500
MAX_DESCRIPTION = 2000
MAX_CAPACITY = 10_000
DURATION_CHOICES = (60, 90, 120, 180)
URL = re.compile(r"\b(https?://\S+)", re.IGNORECASE)
NO_LIMIT_WORDS = re.compile(r"^\s*(geen( maximum)?|onbeperkt|no( maximum)?|unlimited)\s*$", re.I)
# The order of the questions when a new activity is made (the fields buttons can name).
ORDER = callbacks.ORG_FIELDS


class Step(IntEnum):
    TITLE = 1
    KIND = 2
    WHEN = 3
    WHEN_CHECK = 4
    DURATION = 5
    PLACE = 6
    CAPACITY = 7
    WAITLIST = 8
    AUDIENCE = 9
    DESCRIPTION = 10
    DESCRIPTION_EN = 11
    PREVIEW = 12
    CHOOSE_FIELD = 13


Callback = Callable[[Update, MaoContext], Coroutine[Any, Any, int]]


def organiser_only(handler: Callback) -> Callback:
    """Behind the organisers' gate; an organiser's button press is answered here."""

    @wraps(handler)
    async def answered(update: Update, context: MaoContext) -> int:
        if update.callback_query is not None:
            await update.callback_query.answer()
        return await handler(update, context)

    return organisers_only(answered)


def _draft(context: MaoContext) -> dict[str, Any]:
    assert context.user_data is not None
    draft = context.user_data.setdefault(DRAFT, {})
    assert isinstance(draft, dict)
    return draft


def _forget(context: MaoContext) -> None:
    if context.user_data is not None:
        context.user_data.pop(DRAFT, None)


def _user_id(update: Update) -> int:
    assert update.effective_user is not None
    return update.effective_user.id


def _typed(update: Update) -> str:
    message = update.effective_message
    return clean_text((message.text if message else None) or "").strip()


def _when(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


# -- the draft as an activity ------------------------------------------------------------------


def _columns(draft: dict[str, Any]) -> dict[str, Any]:
    """The draft's answers as Activity columns (storage.activities.CHAT_FIELDS)."""
    title = draft["title"]
    return {
        "kind": draft["kind"],
        "title_nl": title,
        "title_en": draft.get("title_en") or title,
        "description_nl": draft.get("description_nl") or "",
        "description_en": draft.get("description_en") or "",
        "starts_at": _when(draft["starts_at"]),
        "ends_at": _when(draft["ends_at"]),
        "location": draft.get("location"),
        "online_url": draft.get("online_url"),
        "capacity": draft.get("capacity"),
        "audience": draft["audience"],
        # Not asked without a maximum: the default, should a maximum come later (a file).
        "waitlist_mode": draft.get("waitlist_mode", WaitlistMode.AUTO.value),
    }


def _draft_from(activity: ActivityInfo) -> dict[str, Any]:
    return {
        "title": activity.title_nl,
        # An English title that only repeated the Dutch one follows a new Dutch title.
        "title_en": None if activity.title_en == activity.title_nl else activity.title_en,
        "kind": activity.kind,
        "starts_at": activity.starts_at.isoformat(),
        "ends_at": activity.ends_at.isoformat(),
        "location": activity.location,
        "online_url": activity.online_url,
        "capacity": activity.capacity,
        "waitlist_mode": activity.waitlist_mode,
        "audience": activity.audience,
        "description_nl": activity.description_nl,
        "description_en": activity.description_en,
    }


def _preview_info(draft: dict[str, Any], now: datetime) -> ActivityInfo:
    columns = _columns(draft)
    return ActivityInfo(
        id=0,
        slug="preview",
        registration_opens_at=None,
        registration_closes_at=None,
        audience_strict=False,
        status=Status.PUBLISHED,
        offer_hours=24,
        reminder_offsets=None,
        is_sample=False,
        updated_at=now,
        taken=0,
        waiting=0,
        **columns,
    )


# -- the database work of each action (run through the seam, storage.db.Database) ---------


class Change(NamedTuple):
    before: ActivityInfo
    after: ActivityInfo
    reach: MoveReach | None


def _create(
    session: Session,
    columns: dict[str, Any],
    organiser: int,
    now: datetime,
    reminders: Sequence[timedelta],
) -> tuple[str, str]:
    activity = create_activity(session, columns, organiser, now, reminders)
    return activity.slug, activity.title_nl


def _change(
    session: Session,
    target: int,
    columns: dict[str, Any],
    now: datetime,
    join_link_before: timedelta,
) -> Change | None:
    before = get_activity_by_id(session, target)
    if before is None:
        return None
    update_activity(session, target, columns, now, join_link_before)
    after = get_activity_by_id(session, target)
    assert after is not None
    # A cancelled activity that moves tells nobody (storage.activities.update_activity).
    reach = move_reach(session, target) if before.status == Status.PUBLISHED else None
    return Change(before, after, reach)


def _copy(
    session: Session, target: int, start: datetime, end: datetime, organiser: int, now: datetime
) -> ActivityInfo | None:
    copy = duplicate_activity(session, target, start, end, organiser, now)
    return get_activity_by_id(session, copy.id) if copy else None


def _registration_closed(
    session: Session, activity_id: int, closed: bool, now: datetime
) -> ActivityInfo | None:
    activity = set_registration_closed(session, activity_id, closed, now)
    return get_activity_by_id(session, activity.id) if activity else None


# -- asking one field ------------------------------------------------------------------------


async def _ask(update: Update, context: MaoContext, field: str) -> int:
    draft = _draft(context)
    draft["field"] = field
    text = context.text
    if field == "title":
        await reply(update, context, text("oa_ask_title"))
        return Step.TITLE
    if field == "kind":
        buttons: list[Button] = [
            (text(f"kind_{k.value.replace('-', '_')}"), callbacks.ORG_KIND.data(kind=k))
            for k in Kind
        ]
        rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
        await reply(update, context, text("oa_ask_kind"), keyboard(rows))
        return Step.KIND
    if field == "when":
        mode = draft.get("mode")
        key = {"move": "oa_ask_move", "duplicate": "oa_ask_duplicate"}.get(
            str(mode), "oa_ask_when"
        )
        await reply(update, context, text(key))
        return Step.WHEN
    if field == "duration":
        choices = [
            (text(f"oa_dur_{m}"), callbacks.ORG_DURATION.data(minutes=m)) for m in DURATION_CHOICES
        ]
        await reply(update, context, text("oa_ask_duration"), keyboard([choices]))
        return Step.DURATION
    if field == "place":
        await reply(update, context, text("oa_ask_place"))
        return Step.PLACE
    if field == "capacity":
        no_limit = [(text("oa_no_limit"), callbacks.ORG_NO_LIMIT.data())]
        await reply(update, context, text("oa_ask_capacity"), one_per_row(no_limit))
        return Step.CAPACITY
    if field == "waitlist":
        modes = [
            (text(f"oa_waitlist_{m.value}"), callbacks.ORG_WAITLIST.data(mode=m))
            for m in WaitlistMode
        ]
        await reply(update, context, text("oa_ask_waitlist"), one_per_row(modes))
        return Step.WAITLIST
    if field == "audience":
        audiences = [
            (text(f"oa_audience_{a.value}"), callbacks.ORG_AUDIENCE.data(audience=a))
            for a in Audience
        ]
        await reply(update, context, text("oa_ask_audience"), keyboard([audiences]))
        return Step.AUDIENCE
    if field == "description":
        await reply(update, context, text("oa_ask_description"))
        return Step.DESCRIPTION
    skip = [(text("oa_skip_en"), callbacks.ORG_SKIP_EN.data())]
    await reply(update, context, text("oa_ask_description_en"), one_per_row(skip))
    return Step.DESCRIPTION_EN


def _waitlist_unasked(draft: dict[str, Any]) -> bool:
    """A maximum given after "Geen maximum": what happens when it is full is still open."""
    return draft.get("capacity") is not None and "waitlist_mode" not in draft


async def _answered(update: Update, context: MaoContext, field: str) -> int:
    """After an answer: the next question, the preview, or (for an existing activity) the
    change itself."""
    draft = _draft(context)
    mode = draft.get("mode", "create")
    if mode == "create":
        if draft.get("editing"):
            if field == "when" and not draft.get("ends_at"):
                return await _ask(update, context, "duration")
            if field == "capacity" and _waitlist_unasked(draft):
                return await _ask(update, context, "waitlist")
            return await _show_preview(update, context)
        following = ORDER[ORDER.index(field) + 1 :]
        for next_field in following:
            if next_field == "duration" and draft.get("ends_at"):
                continue
            if next_field == "waitlist" and draft.get("capacity") is None:
                continue  # never full: "when it is full" has no answer
            return await _ask(update, context, next_field)
        return await _show_preview(update, context)
    if mode == "duplicate":
        return await _duplicate(update, context)
    return await _apply_change(update, context)


# -- the answers -------------------------------------------------------------------------------


async def receive_title(update: Update, context: MaoContext) -> int:
    title = " ".join(_typed(update).split())
    if not title or len(title) > MAX_TITLE:
        await reply(update, context, context.text("oa_text_too_long", limit=MAX_TITLE))
        return Step.TITLE
    _draft(context)["title"] = title
    return await _answered(update, context, "title")


async def choose_kind(update: Update, context: MaoContext) -> int:
    _draft(context)["kind"] = Kind(context.matched("kind")).value
    await close_buttons(update)
    return await _answered(update, context, "kind")


def _with_end(draft: dict[str, Any], found: Moment) -> tuple[datetime, datetime | None]:
    """A typed range gives the end; otherwise a known duration is kept (a move keeps it)."""
    assert found.start is not None
    if found.end is not None:
        return found.start, found.end
    start, end = _when(draft.get("starts_at")), _when(draft.get("ends_at"))
    if start is not None and end is not None:
        return found.start, found.start + (end - start)
    return found.start, None


async def receive_when(update: Update, context: MaoContext) -> int:
    services = context.services
    found = parse_moment(_typed(update), services.now(), services.config.zone)
    if found.start is None:
        problem = context.text(f"oa_reason_{found.reason or 'unclear'}")
        await reply(update, context, context.text("oa_when_unclear", problem=problem))
        return Step.WHEN
    draft = _draft(context)
    start, end = _with_end(draft, found)
    draft["pending"] = [start.isoformat(), end.isoformat() if end else None]
    warning = None
    if start <= services.now():
        warning = "oa_when_past"
    elif is_weekend(start):
        warning = "oa_when_weekend"
    if warning is None:
        return await _take_when(update, context)
    answers = [
        (context.text("oa_when_go_on"), callbacks.ORG_WHEN_OK.data(answer="yes")),
        (context.text("oa_when_change"), callbacks.ORG_WHEN_OK.data(answer="no")),
    ]
    await reply(
        update, context, context.text(warning, moment=moment(start, context)), keyboard([answers])
    )
    return Step.WHEN_CHECK


async def confirm_when(update: Update, context: MaoContext) -> int:
    await close_buttons(update)
    if context.matched("answer") == "no":
        return await _ask(update, context, "when")
    return await _take_when(update, context)


async def _take_when(update: Update, context: MaoContext) -> int:
    draft = _draft(context)
    pending = draft.pop("pending", None)
    if not pending:
        await reply(update, context, context.text("stale_button"))
        return END
    draft["starts_at"], draft["ends_at"] = pending
    return await _answered(update, context, "when")


def _set_duration(context: MaoContext, minutes: int) -> None:
    draft = _draft(context)
    start = _when(draft["starts_at"])
    assert start is not None
    draft["ends_at"] = (start + timedelta(minutes=minutes)).isoformat()


async def choose_duration(update: Update, context: MaoContext) -> int:
    await close_buttons(update)
    _set_duration(context, int(context.matched("minutes")))
    return await _answered(update, context, "duration")


async def receive_duration(update: Update, context: MaoContext) -> int:
    minutes = parse_duration_minutes(_typed(update))
    if minutes is None:
        await reply(update, context, context.text("oa_duration_unclear"))
        return Step.DURATION
    _set_duration(context, minutes)
    return await _answered(update, context, "duration")


async def receive_place(update: Update, context: MaoContext) -> int:
    text = _typed(update)
    link = URL.search(text)
    url = link.group(1) if link else None
    if url is not None and not url.lower().startswith("https://"):
        await reply(update, context, context.text("oa_place_https"))
        return Step.PLACE
    location = " ".join(URL.sub(" ", text).split()).strip(" ,-")
    if location.lower() in {"online", ""}:
        location = ""
    if (not location and not url) or len(location) > MAX_PLACE or len(url or "") > MAX_URL:
        await reply(update, context, context.text("oa_ask_place"))
        return Step.PLACE
    draft = _draft(context)
    draft["location"] = location or None
    draft["online_url"] = url
    return await _answered(update, context, "place")


async def choose_no_limit(update: Update, context: MaoContext) -> int:
    await close_buttons(update)
    _draft(context)["capacity"] = None
    return await _answered(update, context, "capacity")


async def receive_capacity(update: Update, context: MaoContext) -> int:
    text = _typed(update)
    if NO_LIMIT_WORDS.match(text):
        _draft(context)["capacity"] = None
        return await _answered(update, context, "capacity")
    digits = text.split()[0] if text.split() else ""
    # isdecimal, not isdigit: "²" and "①" are digits that int() refuses; the length keeps
    # int() far from its limit on digits.
    if not (digits.isdecimal() and len(digits) <= 6) or not 1 <= int(digits) <= MAX_CAPACITY:
        await reply(update, context, context.text("oa_capacity_unclear", max=MAX_CAPACITY))
        return Step.CAPACITY
    _draft(context)["capacity"] = int(digits)
    return await _answered(update, context, "capacity")


async def choose_waitlist(update: Update, context: MaoContext) -> int:
    await close_buttons(update)
    _draft(context)["waitlist_mode"] = WaitlistMode(context.matched("mode")).value
    return await _answered(update, context, "waitlist")


async def choose_audience(update: Update, context: MaoContext) -> int:
    await close_buttons(update)
    _draft(context)["audience"] = Audience(context.matched("audience")).value
    return await _answered(update, context, "audience")


async def receive_description(update: Update, context: MaoContext) -> int:
    text = _typed(update)
    if not text or len(text) > MAX_DESCRIPTION:
        await reply(update, context, context.text("oa_text_too_long", limit=MAX_DESCRIPTION))
        return Step.DESCRIPTION
    _draft(context)["description_nl"] = text
    return await _answered(update, context, "description")


async def receive_description_en(update: Update, context: MaoContext) -> int:
    text = _typed(update)
    if not text or len(text) > MAX_DESCRIPTION:
        await reply(update, context, context.text("oa_text_too_long", limit=MAX_DESCRIPTION))
        return Step.DESCRIPTION_EN
    _draft(context)["description_en"] = text
    return await _answered(update, context, "description_en")


async def skip_description_en(update: Update, context: MaoContext) -> int:
    await close_buttons(update)
    _draft(context)["description_en"] = ""
    return await _answered(update, context, "description_en")


async def expect_button(update: Update, context: MaoContext) -> int | None:
    await reply(update, context, context.text("signup_use_buttons"))
    return None


# -- a new activity ----------------------------------------------------------------------------


@organiser_only
async def start_new(update: Update, context: MaoContext) -> int:
    assert context.user_data is not None
    context.user_data[DRAFT] = {"mode": "create"}
    return await _ask(update, context, "title")


async def _show_preview(update: Update, context: MaoContext) -> int:
    draft = _draft(context)
    draft["editing"] = False
    info = _preview_info(draft, context.services.now())
    await reply(update, context, context.text("oa_preview_intro"))
    actions = [
        [(context.text("oa_publish"), callbacks.ORG_PUBLISH.data())],
        [
            (context.text("oa_change"), callbacks.ORG_CHANGE_MENU.data()),
            (context.text("oa_discard"), callbacks.ORG_DISCARD.data()),
        ],
    ]
    # Organisers see the meeting link; the public listing says it comes after signing up.
    block = describe(info, context, with_description=True, with_link=True)
    await reply(update, context, block, keyboard(actions))
    return Step.PREVIEW


@organiser_only
async def change_menu(update: Update, context: MaoContext) -> int:
    await close_buttons(update)
    fields = [(context.text(f"oa_field_{f}"), callbacks.ORG_CHANGE.data(field=f)) for f in ORDER]
    rows = [fields[i : i + 2] for i in range(0, len(fields), 2)]
    await reply(update, context, context.text("oa_choose_field"), keyboard(rows))
    return Step.CHOOSE_FIELD


@organiser_only
async def change_field(update: Update, context: MaoContext) -> int:
    await close_buttons(update)
    draft = _draft(context)
    if "title" not in draft:
        await reply(update, context, context.text("stale_button"))
        return END
    draft["editing"] = True
    return await _ask(update, context, context.matched("field"))


@organiser_only
async def publish(update: Update, context: MaoContext) -> int:
    draft = _draft(context)
    if draft.get("mode") != "create" or "description_nl" not in draft:
        await close_buttons(update)
        await reply(update, context, context.text("stale_button"))
        return END
    services = context.services
    slug, title = await services.db.run_session(
        _create,
        _columns(draft),
        _user_id(update),
        services.now(),
        services.config.reminders.offsets,
    )
    await close_buttons(update)
    _forget(context)
    link = signup_link(context.bot.username, slug)
    await reply(update, context, context.text("oa_published", title=title, link=link))
    return END


@organiser_only
async def discard(update: Update, context: MaoContext) -> int:
    await close_buttons(update)
    _forget(context)
    await reply(update, context, context.text("oa_discarded"))
    return END


async def abort(update: Update, context: MaoContext) -> int:
    if update.callback_query is not None:
        await update.callback_query.answer()
        await close_buttons(update)
    _forget(context)
    await reply(update, context, context.text("oa_aborted"))
    return END


# -- existing activities -----------------------------------------------------------------------


async def _activity(context: MaoContext) -> ActivityInfo | None:
    """The activity the pressed button names."""
    return await context.services.db.run_reading(
        get_activity_by_id, int(context.matched("activity"))
    )


async def _not_found(update: Update, context: MaoContext) -> int:
    await reply(update, context, context.text("oa_not_found"))
    return END


@organiser_only
async def list_activities(update: Update, context: MaoContext) -> int:
    services = context.services
    activities = await services.db.run_reading(organiser_activities, services.now())
    if not activities:
        await reply(update, context, context.text("oa_manage_none"))
        return END
    buttons = [
        (choice_label(a, context), callbacks.ORG_SHOW.data(activity=a.id)) for a in activities[:30]
    ]
    await reply(update, context, context.text("oa_manage_choose"), one_per_row(buttons))
    return END


async def _show_card(update: Update, context: MaoContext, activity: ActivityInfo) -> None:
    text = context.text
    body = describe(activity, context, with_link=True)
    registration_open = activity.registration_closes_at is None
    if activity.status == Status.CANCELLED:
        body += "\n" + text("oa_status_cancelled")
    elif not registration_open:
        body += "\n" + text("oa_status_closed")
    some = {"activity": activity.id}
    rows: list[list[Button]] = [
        [
            (text("oa_btn_edit"), callbacks.ORG_EDIT_MENU.data(**some)),
            (text("oa_btn_move"), callbacks.ORG_MOVE.data(**some)),
        ]
    ]
    if activity.status == Status.CANCELLED:
        rows.append([(text("oa_btn_reopen"), callbacks.ORG_REOPEN.data(**some))])
    else:
        state = "closed" if registration_open else "open"
        label = text("oa_btn_close" if registration_open else "oa_btn_open")
        rows.append([(label, callbacks.ORG_REGISTRATION.data(state=state, **some))])
        rows.append([(text("oa_btn_cancel"), callbacks.ORG_CANCEL.data(**some))])
    rows.append(
        [
            (text("oa_btn_duplicate"), callbacks.ORG_DUPLICATE.data(**some)),
            (text("oa_btn_share"), callbacks.ORG_SHARE.data(**some)),
        ]
    )
    await reply(update, context, body, keyboard(rows))


@organiser_only
async def show_activity(update: Update, context: MaoContext) -> int:
    activity = await _activity(context)
    if activity is None:
        return await _not_found(update, context)
    await _show_card(update, context, activity)
    return END


@organiser_only
async def edit_menu(update: Update, context: MaoContext) -> int:
    activity = await _activity(context)
    if activity is None:
        return await _not_found(update, context)
    fields = [
        (context.text(f"oa_field_{f}"), callbacks.ORG_EDIT.data(activity=activity.id, field=f))
        for f in ORDER
    ]
    rows = [fields[i : i + 2] for i in range(0, len(fields), 2)]
    await reply(update, context, context.text("oa_choose_field"), keyboard(rows))
    return END


async def _start_on_existing(update: Update, context: MaoContext, mode: str, field: str) -> int:
    activity = await _activity(context)
    if activity is None:
        return await _not_found(update, context)
    assert context.user_data is not None
    context.user_data[DRAFT] = {"mode": mode, "target": activity.id, **_draft_from(activity)}
    return await _ask(update, context, field)


@organiser_only
async def edit_field(update: Update, context: MaoContext) -> int:
    field = context.matched("field")
    return await _start_on_existing(update, context, "move" if field == "when" else "edit", field)


@organiser_only
async def start_move(update: Update, context: MaoContext) -> int:
    return await _start_on_existing(update, context, "move", "when")


@organiser_only
async def start_duplicate(update: Update, context: MaoContext) -> int:
    return await _start_on_existing(update, context, "duplicate", "when")


async def _apply_change(update: Update, context: MaoContext) -> int:
    """An existing activity's field (or date) changed: stored, and people told if moved."""
    draft = _draft(context)
    services = context.services
    change = await services.db.run_session(
        _change,
        int(draft["target"]),
        _columns(draft),
        services.now(),
        services.config.reminders.join_link_before,
    )
    _forget(context)
    if change is None:
        return await _not_found(update, context)
    before, after, reach = change
    if after.starts_at != before.starts_at:
        told = reach.told if reach else 0
        text = context.text("oa_moved", period=period(after, context), count=told)
        if reach and reach.told:
            text += " " + context.text("oa_moved_calendars", calendars=reach.calendars)
        await reply(update, context, text)
    else:
        await reply(update, context, context.text("oa_updated"))
    await _show_card(update, context, after)
    return END


async def _duplicate(update: Update, context: MaoContext) -> int:
    draft = _draft(context)
    services = context.services
    start, end = _when(draft["starts_at"]), _when(draft["ends_at"])
    assert start is not None and end is not None
    info = await services.db.run_session(
        _copy, int(draft["target"]), start, end, _user_id(update), services.now()
    )
    _forget(context)
    if info is None:
        return await _not_found(update, context)
    await reply(
        update,
        context,
        context.text(
            "oa_duplicated",
            title=info.title(context.language),
            period=period(info, context),
            link=signup_link(context.bot.username, info.slug),
        ),
    )
    return END


@organiser_only
async def set_registration(update: Update, context: MaoContext) -> int:
    services = context.services
    closed = context.matched("state") == "closed"
    info = await services.db.run_session(
        _registration_closed, int(context.matched("activity")), closed, services.now()
    )
    if info is None:
        return await _not_found(update, context)
    await close_buttons(update)
    await reply(update, context, context.text("oa_closed" if closed else "oa_opened"))
    await _show_card(update, context, info)
    return END


@organiser_only
async def ask_cancel(update: Update, context: MaoContext) -> int:
    activity = await _activity(context)
    if activity is None:
        return await _not_found(update, context)
    answers = [
        (context.text("oa_cancel_yes"), callbacks.ORG_CANCEL_YES.data(activity=activity.id)),
        (context.text("oa_cancel_no"), callbacks.ORG_SHOW.data(activity=activity.id)),
    ]
    await reply(
        update,
        context,
        context.text(
            "oa_cancel_confirm",
            title=activity.title(context.language),
            count=activity.taken + activity.waiting,
        ),
        keyboard([answers]),
    )
    return END


@organiser_only
async def cancel(update: Update, context: MaoContext) -> int:
    services = context.services
    told = await services.db.run_session(
        cancel_activity_in_chat, int(context.matched("activity")), services.now()
    )
    if told is None:
        return await _not_found(update, context)
    await close_buttons(update)
    await reply(update, context, context.text("oa_cancelled", count=told))
    return END


@organiser_only
async def reopen(update: Update, context: MaoContext) -> int:
    services = context.services
    told = await services.db.run_session(
        reopen_activity_in_chat, int(context.matched("activity")), services.now()
    )
    if told is None:
        return await _not_found(update, context)
    await close_buttons(update)
    await reply(update, context, context.text("oa_reopened", count=told))
    return END


@organiser_only
async def share(update: Update, context: MaoContext) -> int:
    activity = await _activity(context)
    if activity is None:
        return await _not_found(update, context)
    services = context.services
    # Writes the activity's secret on first use.
    code = await services.db.run_session(
        door_code, activity.id, services.now(), services.config.zone
    )
    chat_id = _user_id(update)
    link = signup_link(context.bot.username, activity.slug)
    title = activity.title(context.language)
    await reply(update, context, context.text("oa_share", link=link))
    await context.bot.send_photo(
        chat_id,
        InputFile(qr_png(link), filename=f"aanmelden-{activity.slug}.png"),
        caption=context.text("oa_share_qr", title=title),
    )
    checkin = checkin_link(context.bot.username, code)
    await context.bot.send_photo(
        chat_id,
        InputFile(qr_png(checkin), filename=f"inchecken-{activity.slug}.png"),
        caption=context.text("oa_checkin_qr", title=title, link=checkin),
    )
    return END


@organiser_only
async def stale(update: Update, context: MaoContext) -> int:
    """An organiser button pressed outside its step (an old message)."""
    await reply(update, context, context.text("stale_button"))
    return END


def build_handlers() -> Handlers:
    typed = filters.TEXT & ~filters.COMMAND
    wrong_input = organisers_only(expect_button)

    def button(
        callback: Callback, form: callbacks.CallbackFormat
    ) -> CallbackQueryHandler[Any, Any]:
        return CallbackQueryHandler(organiser_only(callback), pattern=form.pattern)

    with warnings.catch_warnings():
        # per_message=False is intended: one draft per organiser, across messages (see
        # signup.py); PTB warns about CallbackQueryHandlers in that case.
        warnings.simplefilter("ignore", PTBUserWarning)
        conversation = ConversationHandler(
            name="organiser_activity",
            persistent=True,
            allow_reentry=True,
            entry_points=[
                CommandHandler(["nieuweactiviteit", "newevent"], start_new),
                CallbackQueryHandler(edit_field, pattern=callbacks.ORG_EDIT.pattern),
                CallbackQueryHandler(start_move, pattern=callbacks.ORG_MOVE.pattern),
                CallbackQueryHandler(start_duplicate, pattern=callbacks.ORG_DUPLICATE.pattern),
            ],
            states={
                Step.TITLE: state_handlers(MessageHandler(typed, organiser_only(receive_title))),
                Step.KIND: state_handlers(
                    button(choose_kind, callbacks.ORG_KIND), MessageHandler(typed, wrong_input)
                ),
                Step.WHEN: state_handlers(MessageHandler(typed, organiser_only(receive_when))),
                Step.WHEN_CHECK: state_handlers(
                    button(confirm_when, callbacks.ORG_WHEN_OK),
                    MessageHandler(typed, wrong_input),
                ),
                Step.DURATION: state_handlers(
                    button(choose_duration, callbacks.ORG_DURATION),
                    MessageHandler(typed, organiser_only(receive_duration)),
                ),
                Step.PLACE: state_handlers(MessageHandler(typed, organiser_only(receive_place))),
                Step.CAPACITY: state_handlers(
                    button(choose_no_limit, callbacks.ORG_NO_LIMIT),
                    MessageHandler(typed, organiser_only(receive_capacity)),
                ),
                Step.WAITLIST: state_handlers(
                    button(choose_waitlist, callbacks.ORG_WAITLIST),
                    MessageHandler(typed, wrong_input),
                ),
                Step.AUDIENCE: state_handlers(
                    button(choose_audience, callbacks.ORG_AUDIENCE),
                    MessageHandler(typed, wrong_input),
                ),
                Step.DESCRIPTION: state_handlers(
                    MessageHandler(typed, organiser_only(receive_description))
                ),
                Step.DESCRIPTION_EN: state_handlers(
                    button(skip_description_en, callbacks.ORG_SKIP_EN),
                    MessageHandler(typed, organiser_only(receive_description_en)),
                ),
                Step.PREVIEW: state_handlers(
                    CallbackQueryHandler(publish, pattern=callbacks.ORG_PUBLISH.pattern),
                    CallbackQueryHandler(change_menu, pattern=callbacks.ORG_CHANGE_MENU.pattern),
                    CallbackQueryHandler(discard, pattern=callbacks.ORG_DISCARD.pattern),
                    MessageHandler(typed, wrong_input),
                ),
                Step.CHOOSE_FIELD: state_handlers(
                    CallbackQueryHandler(change_field, pattern=callbacks.ORG_CHANGE.pattern),
                    MessageHandler(typed, wrong_input),
                ),
            },
            fallbacks=state_handlers(
                CallbackQueryHandler(organisers_only(abort), pattern=callbacks.ORG_ABORT.pattern),
                CommandHandler(["annuleer", "cancel"], organisers_only(abort)),
            ),
        )
    return [
        conversation,
        CommandHandler(["activiteiten", "events_admin", "manage"], list_activities),
        CallbackQueryHandler(show_activity, pattern=callbacks.ORG_SHOW.pattern),
        CallbackQueryHandler(edit_menu, pattern=callbacks.ORG_EDIT_MENU.pattern),
        CallbackQueryHandler(set_registration, pattern=callbacks.ORG_REGISTRATION.pattern),
        CallbackQueryHandler(ask_cancel, pattern=callbacks.ORG_CANCEL.pattern),
        CallbackQueryHandler(cancel, pattern=callbacks.ORG_CANCEL_YES.pattern),
        CallbackQueryHandler(reopen, pattern=callbacks.ORG_REOPEN.pattern),
        CallbackQueryHandler(share, pattern=callbacks.ORG_SHARE.pattern),
        # Any other organiser button outside its step: refused, or "no longer works".
        CallbackQueryHandler(stale, pattern=callbacks.ORG_ANY),
    ]
