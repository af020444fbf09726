"""Organiser tools: /omroep (/broadcast); /deelnemers lives in handlers.attendees.

Non-admins get a polite refusal and the attempt is logged; these commands are not in their
command menu either (see core.menus).
"""

from __future__ import annotations

import logging
import warnings
from datetime import datetime
from enum import IntEnum
from typing import Any

from sqlalchemy.orm import Session
from telegram import InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import (
    CallbackQueryHandler,
    CommandHandler,
    ConversationHandler,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from core import callbacks
from core.activity_text import moment
from core.context import Handlers, MaoContext, state_handlers
from core.keyboards import Button, keyboard, one_per_row
from core.replies import close_buttons, pressed, reply
from core.roles import organisers_only
from core.schedule_input import parse_send_moment
from core.text_limits import clean_text
from storage.activities import ActivityInfo, get_activity_by_id, upcoming_activities
from storage.broadcasts import (
    create_broadcast,
    recipient_count,
    reopen_broadcast,
    set_status_message,
)
from storage.db import REPORT_SECONDS
from storage.vocabulary import Recipients

logger = logging.getLogger(__name__)
# Writing an announcement's rows: seconds at 100k recipients, never the call's usual limit.
BROADCAST_STORE_SECONDS = 120.0
DRAFT = "broadcast"


class Step(IntEnum):
    AUDIENCE = 1
    ACTIVITY = 2
    TEXT = 3
    CONFIRM = 4
    ENGLISH = 5
    MOMENT = 6
    SIGNUP = 7
    NIGHT = 8


END = ConversationHandler.END
MAX_VISIBLE = 4096


async def _pressed_activity(context: MaoContext) -> ActivityInfo | None:
    """The activity the pressed button names."""
    return await context.services.db.run_reading(
        get_activity_by_id, int(context.matched("activity"))
    )


def _draft(context: MaoContext) -> dict[str, Any]:
    assert context.user_data is not None
    draft: dict[str, Any] = context.user_data.setdefault(DRAFT, {})
    return draft


async def _ask_audience(update: Update, context: MaoContext, intro_key: str) -> int:
    buttons: list[Button] = [
        (context.text(f"audience_{a.value}"), callbacks.BROADCAST_AUDIENCE.data(audience=a))
        for a in Recipients
    ]
    buttons.append((context.text("broadcast_abort"), callbacks.BROADCAST_ABORT.data()))
    await reply(update, context, context.text(intro_key), one_per_row(buttons))
    return Step.AUDIENCE


async def _recipient_count(context: MaoContext, draft: dict[str, Any]) -> int:
    return await context.services.db.run_reading(
        recipient_count,
        Recipients(draft["audience"]),
        draft.get("activity_id"),
        limit=REPORT_SECONDS,
        slow_is_away=False,
    )


def _signup_choices(session: Session, now: datetime) -> list[ActivityInfo]:
    return [a for a in upcoming_activities(session, now) if a.open_for_registration(now)]


@organisers_only
async def start_broadcast(update: Update, context: MaoContext) -> int:
    assert context.user_data is not None
    context.user_data[DRAFT] = {}
    return await _ask_audience(update, context, "broadcast_choose_audience")


async def _audience_chosen(update: Update, context: MaoContext, label: str) -> int:
    """Show how many it reaches; refuse nobody; then the text (or the preview when editing)."""
    draft = _draft(context)
    count = await _recipient_count(context, draft)
    if count == 0:
        return await _ask_audience(update, context, "broadcast_no_recipients")
    await reply(
        update, context, context.text("broadcast_audience_count", audience=label, count=count)
    )
    if "text" in draft:
        return await _show_preview(update, context)
    await reply(update, context, context.text("broadcast_ask_text"))
    return Step.TEXT


@organisers_only
async def choose_audience(update: Update, context: MaoContext) -> int:
    await pressed(update)
    audience = Recipients(context.matched("audience"))
    draft = _draft(context)
    draft["audience"] = audience.value
    draft.pop("activity_id", None)
    if not audience.needs_activity:
        await close_buttons(update)
        return await _audience_chosen(update, context, context.text(f"audience_{audience.value}"))
    services = context.services
    activities = await services.db.run_reading(upcoming_activities, services.now())
    await close_buttons(update)
    language = context.language
    buttons = [
        (a.title(language), callbacks.BROADCAST_ACTIVITY.data(activity=a.id))
        for a in activities[:20]
    ]
    if not buttons:
        return await _ask_audience(update, context, "broadcast_no_recipients")
    await reply(update, context, context.text("broadcast_choose_activity"), one_per_row(buttons))
    return Step.ACTIVITY


@organisers_only
async def choose_activity(update: Update, context: MaoContext) -> int:
    await pressed(update)
    activity = await _pressed_activity(context)
    await close_buttons(update)
    if activity is None:
        await reply(update, context, context.text("signup_not_found"))
        return END
    draft = _draft(context)
    draft["activity_id"] = activity.id
    label = f"{context.text('audience_' + draft['audience'])} – {activity.title(context.language)}"
    return await _audience_chosen(update, context, label)


def _typed_text(update: Update) -> tuple[str, int]:
    """What the organiser typed as Telegram HTML, and its visible length.

    text_html escapes the plain parts (& < >) and turns Telegram formatting (bold, links)
    into tags, so organisers never write HTML themselves.
    """
    message = update.effective_message
    assert message is not None
    # No control characters into the database (PostgreSQL refuses NUL) nor to recipients.
    return clean_text(message.text_html or ""), len(message.text or "")


@organisers_only
async def receive_text(update: Update, context: MaoContext) -> int:
    text, visible = _typed_text(update)
    if visible > MAX_VISIBLE:
        await reply(update, context, context.text("broadcast_too_long", length=visible))
        return Step.TEXT
    draft = _draft(context)
    draft["text"] = text
    draft.pop("text_en", None)
    await reply(
        update,
        context,
        context.text("broadcast_ask_english"),
        keyboard(
            [[(context.text("broadcast_skip_english"), callbacks.BROADCAST_SKIP_ENGLISH.data())]]
        ),
    )
    return Step.ENGLISH


@organisers_only
async def receive_english(update: Update, context: MaoContext) -> int:
    text, visible = _typed_text(update)
    if visible > MAX_VISIBLE:
        await reply(update, context, context.text("broadcast_too_long", length=visible))
        return Step.ENGLISH
    _draft(context)["text_en"] = text
    return await _show_preview(update, context)


@organisers_only
async def skip_english(update: Update, context: MaoContext) -> int:
    await pressed(update)
    await close_buttons(update)
    _draft(context).pop("text_en", None)
    return await _show_preview(update, context)


def _signup_markup(context: MaoContext, draft: dict[str, Any]) -> InlineKeyboardMarkup | None:
    activity_id = draft.get("signup_activity_id")
    if activity_id is None:
        return None
    label = context.text("broadcast_signup_button")
    return keyboard([[(label, callbacks.SIGNUP_PICK.data(activity=activity_id))]])


async def _show_preview(update: Update, context: MaoContext) -> int:
    draft = _draft(context)
    chat = update.effective_chat
    assert chat is not None
    await reply(update, context, context.text("broadcast_preview_intro"))
    try:
        # The preview is the message itself, exactly as recipients will see it.
        await context.bot.send_message(
            chat.id, draft["text"], reply_markup=_signup_markup(context, draft)
        )
        if draft.get("text_en"):
            await reply(update, context, context.text("broadcast_english_preview"))
            await context.bot.send_message(chat.id, draft["text_en"])
    except BadRequest as error:
        logger.warning("Broadcast preview refused by Telegram: %s", error)
        await reply(update, context, context.text("broadcast_not_shown"))
        await reply(update, context, context.text("broadcast_ask_text"))
        return Step.TEXT
    count = await _recipient_count(context, draft)
    rows: list[list[Button]] = [
        [
            (context.text("broadcast_send"), callbacks.BROADCAST_SEND.data()),
            (context.text("broadcast_schedule"), callbacks.BROADCAST_SCHEDULE.data()),
        ],
        [
            (context.text("broadcast_edit_text"), callbacks.BROADCAST_EDIT_TEXT.data()),
            (context.text("broadcast_edit_audience"), callbacks.BROADCAST_EDIT_AUDIENCE.data()),
        ],
        [
            (context.text("broadcast_add_signup"), callbacks.BROADCAST_ADD_SIGNUP.data()),
            (context.text("broadcast_abort"), callbacks.BROADCAST_ABORT.data()),
        ],
    ]
    await reply(update, context, context.text("broadcast_confirm", count=count), keyboard(rows))
    return Step.CONFIRM


async def _create(
    update: Update,
    context: MaoContext,
    status_text: str,
    scheduled_for: datetime | None,
    night_allowed: bool = False,
) -> int | None:
    """Store the broadcast and owe it to every recipient; None when nobody would get it."""
    draft = _draft(context)
    if await _recipient_count(context, draft) == 0:
        await _ask_audience(update, context, "broadcast_no_recipients")
        return None
    user = update.effective_user
    assert user is not None
    services = context.services
    # The status message exists before the first recipient can be reached, so the report
    # always has a place to appear.
    status = await reply(update, context, status_text)

    def store(session: Session) -> int:
        broadcast_id = create_broadcast(
            session,
            user.id,
            Recipients(draft["audience"]),
            draft.get("activity_id"),
            draft["text"],
            services.now(),
            text_en=draft.get("text_en"),
            scheduled_for=scheduled_for,
            signup_activity_id=draft.get("signup_activity_id"),
            quiet=services.config.quiet_hours,
            night_allowed=night_allowed,
        )
        if status is not None:
            set_status_message(session, broadcast_id, status.chat_id, status.message_id)
        return broadcast_id

    # One row per recipient (95,000 at 100k users: about 3 s) off the event loop, with time
    # for it; while the database is known to be away the organiser hears so at once.
    services.db.refuse_while_away()
    broadcast_id = await services.db.run_session(store, limit=BROADCAST_STORE_SECONDS)
    assert context.user_data is not None
    # Every recipient's message is owed now (the commit woke the outbox); it sends them after
    # anything personal.
    context.user_data.pop(DRAFT, None)
    return broadcast_id


async def _draft_confirmed(update: Update, context: MaoContext) -> bool:
    """An organiser's tap on a draft that still has its text; the buttons close either way."""
    await pressed(update)
    await close_buttons(update)
    if "text" not in _draft(context):
        await reply(update, context, context.text("stale_button"))
        return False
    return True


@organisers_only
async def confirm(update: Update, context: MaoContext) -> int:
    if not await _draft_confirmed(update, context):
        return END
    quiet = context.services.config.quiet_hours
    if quiet is not None and quiet.contains(context.services.now()):
        # Asked once, here: the organiser may know that it cannot wait.
        labels = {"start": f"{quiet.start:%H:%M}", "end": f"{quiet.end:%H:%M}"}
        choices = [
            [(context.text("broadcast_night_now"), callbacks.BROADCAST_NIGHT_NOW.data())],
            [
                (
                    context.text("broadcast_night_morning", **labels),
                    callbacks.BROADCAST_NIGHT_MORNING.data(),
                )
            ],
        ]
        await reply(
            update, context, context.text("broadcast_night_ask", **labels), keyboard(choices)
        )
        return Step.NIGHT
    return await _send_now(update, context, night_allowed=False)


async def _send_now(update: Update, context: MaoContext, *, night_allowed: bool) -> int:
    text = context.text("broadcast_started")
    if await _create(update, context, text, None, night_allowed) is None:
        return Step.AUDIENCE
    return END


@organisers_only
async def send_at_night(update: Update, context: MaoContext) -> int:
    if not await _draft_confirmed(update, context):
        return END
    return await _send_now(update, context, night_allowed=True)


@organisers_only
async def send_in_the_morning(update: Update, context: MaoContext) -> int:
    if not await _draft_confirmed(update, context):
        return END
    return await _schedule(update, context, context.services.now())


@organisers_only
async def edit_text(update: Update, context: MaoContext) -> int:
    await pressed(update)
    await close_buttons(update)
    await reply(update, context, context.text("broadcast_ask_text"))
    return Step.TEXT


@organisers_only
async def edit_audience(update: Update, context: MaoContext) -> int:
    await pressed(update)
    await close_buttons(update)
    return await _ask_audience(update, context, "broadcast_choose_audience")


@organisers_only
async def ask_moment(update: Update, context: MaoContext) -> int:
    await pressed(update)
    await close_buttons(update)
    await reply(update, context, context.text("broadcast_ask_moment"))
    return Step.MOMENT


@organisers_only
async def receive_moment(update: Update, context: MaoContext) -> int:
    message = update.effective_message
    assert message is not None
    services = context.services
    now = services.now()
    when = parse_send_moment(message.text or "", now, services.config.zone)
    if when is None:
        await reply(update, context, context.text("broadcast_bad_moment"))
        return Step.MOMENT
    if when <= now:
        await reply(update, context, context.text("broadcast_past_moment"))
        return Step.MOMENT
    return await _schedule(update, context, when)


async def _schedule(update: Update, context: MaoContext, when: datetime) -> int:
    """Owed from `when`, or from the end of the quiet hours it falls in (said as such)."""
    quiet = context.services.config.quiet_hours
    if quiet is not None:
        when = quiet.release(when)
    count = await _recipient_count(context, _draft(context))
    text = context.text("broadcast_scheduled", moment=moment(when, context), count=count)
    if await _create(update, context, text, when) is None:
        return Step.AUDIENCE
    return END


@organisers_only
async def ask_signup_activity(update: Update, context: MaoContext) -> int:
    await pressed(update)
    services = context.services
    activities = await services.db.run_reading(_signup_choices, services.now())
    await close_buttons(update)
    language = context.language
    buttons = [
        (a.title(language), callbacks.BROADCAST_SIGNUP.data(activity=a.id))
        for a in activities[:20]
    ]
    if not buttons:
        await reply(update, context, context.text("signup_not_found"))
        return await _show_preview(update, context)
    await reply(update, context, context.text("broadcast_choose_signup"), one_per_row(buttons))
    return Step.SIGNUP


@organisers_only
async def choose_signup_activity(update: Update, context: MaoContext) -> int:
    await pressed(update)
    activity = await _pressed_activity(context)
    await close_buttons(update)
    if activity is not None:
        _draft(context)["signup_activity_id"] = activity.id
        title = activity.title(context.language)
        await reply(update, context, context.text("broadcast_signup_added", title=title))
    return await _show_preview(update, context)


@organisers_only
async def retry_failed(update: Update, context: MaoContext) -> None:
    """ "Send again to the failed ones", from the final report."""
    await pressed(update)
    services = context.services
    broadcast_id = int(context.matched("broadcast"))
    count = await services.db.run_session(reopen_broadcast, broadcast_id, services.now())
    await close_buttons(update)
    await reply(update, context, context.text("broadcast_retrying", count=count))


@organisers_only
async def outside_flow(update: Update, context: MaoContext) -> None:
    """A broadcast button pressed with no draft open (old, or forged): refuse or say stale."""
    await pressed(update)
    await close_buttons(update)
    await reply(update, context, context.text("stale_button"))


@organisers_only
async def abort(update: Update, context: MaoContext) -> int:
    if update.callback_query is not None:
        await pressed(update)
        await close_buttons(update)
    if context.user_data is not None:
        context.user_data.pop(DRAFT, None)
    await reply(update, context, context.text("broadcast_aborted"))
    return END


@organisers_only
async def expect_button(update: Update, context: MaoContext) -> None:
    await reply(update, context, context.text("signup_use_buttons"))


@organisers_only
async def start_for_activity(update: Update, context: MaoContext) -> int:
    """From the attendee view (handlers.attendees): this activity's people, straight to the
    text step. Also for a cancelled activity, whose attendees still need its news."""
    await pressed(update)
    activity = await _pressed_activity(context)
    if activity is None:
        await reply(update, context, context.text("signup_not_found"))
        return END
    assert context.user_data is not None
    audience = context.matched("audience")
    context.user_data[DRAFT] = {"audience": audience, "activity_id": activity.id}
    label = f"{context.text('audience_' + audience)} – {activity.title(context.language)}"
    return await _audience_chosen(update, context, label)


def build_handlers() -> Handlers:
    typed = filters.TEXT & ~filters.COMMAND
    with warnings.catch_warnings():
        # per_message=False is intended: one broadcast draft per organiser (see signup.py).
        warnings.simplefilter("ignore", PTBUserWarning)
        conversation = ConversationHandler(
            name="broadcast",
            persistent=True,
            allow_reentry=True,
            entry_points=[
                CommandHandler(["omroep", "broadcast"], start_broadcast),
                CallbackQueryHandler(
                    start_for_activity, pattern=callbacks.ATTENDEES_WRITE.pattern
                ),
            ],
            states={
                Step.AUDIENCE: state_handlers(
                    CallbackQueryHandler(
                        choose_audience, pattern=callbacks.BROADCAST_AUDIENCE.pattern
                    ),
                    MessageHandler(typed, expect_button),
                ),
                Step.ACTIVITY: state_handlers(
                    CallbackQueryHandler(
                        choose_activity, pattern=callbacks.BROADCAST_ACTIVITY.pattern
                    ),
                    MessageHandler(typed, expect_button),
                ),
                Step.TEXT: state_handlers(MessageHandler(typed, receive_text)),
                Step.ENGLISH: state_handlers(
                    CallbackQueryHandler(
                        skip_english, pattern=callbacks.BROADCAST_SKIP_ENGLISH.pattern
                    ),
                    MessageHandler(typed, receive_english),
                ),
                Step.CONFIRM: state_handlers(
                    CallbackQueryHandler(confirm, pattern=callbacks.BROADCAST_SEND.pattern),
                    CallbackQueryHandler(edit_text, pattern=callbacks.BROADCAST_EDIT_TEXT.pattern),
                    CallbackQueryHandler(
                        edit_audience, pattern=callbacks.BROADCAST_EDIT_AUDIENCE.pattern
                    ),
                    CallbackQueryHandler(ask_moment, pattern=callbacks.BROADCAST_SCHEDULE.pattern),
                    CallbackQueryHandler(
                        ask_signup_activity, pattern=callbacks.BROADCAST_ADD_SIGNUP.pattern
                    ),
                    MessageHandler(typed, expect_button),
                ),
                Step.MOMENT: state_handlers(MessageHandler(typed, receive_moment)),
                Step.NIGHT: state_handlers(
                    CallbackQueryHandler(
                        send_at_night, pattern=callbacks.BROADCAST_NIGHT_NOW.pattern
                    ),
                    CallbackQueryHandler(
                        send_in_the_morning, pattern=callbacks.BROADCAST_NIGHT_MORNING.pattern
                    ),
                    MessageHandler(typed, expect_button),
                ),
                Step.SIGNUP: state_handlers(
                    CallbackQueryHandler(
                        choose_signup_activity, pattern=callbacks.BROADCAST_SIGNUP.pattern
                    ),
                    MessageHandler(typed, expect_button),
                ),
            },
            fallbacks=state_handlers(
                CallbackQueryHandler(abort, pattern=callbacks.BROADCAST_ABORT.pattern),
                CommandHandler(["annuleer", "cancel"], abort),
            ),
        )
    return [
        conversation,
        CallbackQueryHandler(retry_failed, pattern=callbacks.BROADCAST_RETRY.pattern),
        # After the conversation and the retry button: any other broadcast button outside a
        # draft (old, or forged by someone who is not an organiser).
        CallbackQueryHandler(outside_flow, pattern=r"^bc:"),
    ]
