"""Organiser tools: /omroep (/broadcast), /deelnemers (/attendees). Admins from config only.

Non-admins get a polite refusal and the attempt is logged; these commands are not in their
command menu either (see handlers.menus).
"""

from __future__ import annotations

import logging
import re
import warnings
from enum import IntEnum

from telegram import InputFile, Update
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
from core.context import Handlers, MaoContext, state_handlers
from core.keyboards import Button, keyboard, one_per_row
from core.roles import is_organiser
from core.text_limits import TELEGRAM_TAGS, clean_text
from faq.content import html_problems
from handlers.replies import close_buttons, pressed, reply
from jobs.outbox import outbox_of
from storage.activities import get_activity_by_id, upcoming_activities
from storage.broadcasts import (
    audience_user_ids,
    create_broadcast,
    reopen_broadcast,
    set_status_message,
)
from storage.registrations import export_csv, export_registrations
from storage.vocabulary import Recipients, RegistrationStatus

logger = logging.getLogger(__name__)
DRAFT = "broadcast"
_BARE_AMPERSAND = re.compile(r"&(?!#?[A-Za-z0-9]+;)")


class Step(IntEnum):
    AUDIENCE = 1
    ACTIVITY = 2
    TEXT = 3
    CONFIRM = 4


END = ConversationHandler.END


def message_problems(text: str) -> list[str]:
    problems = [p for p in html_problems(text, TELEGRAM_TAGS)]
    if _BARE_AMPERSAND.search(text):
        problems.append("a bare & (write &amp;)")
    if len(text) > 4096:
        problems.append(f"too long ({len(text)} of 4096 characters)")
    return problems


def _is_admin(update: Update, context: MaoContext) -> bool:
    user = update.effective_user
    return user is not None and is_organiser(context.services, user.id)


async def _refuse(update: Update, context: MaoContext) -> int:
    user = update.effective_user
    logger.warning("Organiser command refused for user %s", user.id if user else "-")
    await reply(update, context, context.text("admin_only"))
    return END


async def start_broadcast(update: Update, context: MaoContext) -> int:
    if not _is_admin(update, context):
        return await _refuse(update, context)
    assert context.user_data is not None
    context.user_data[DRAFT] = {}
    buttons: list[Button] = [
        (context.text(f"audience_{a.value}"), callbacks.BROADCAST_AUDIENCE.data(audience=a))
        for a in Recipients
    ]
    buttons.append((context.text("broadcast_abort"), callbacks.BROADCAST_ABORT.data()))
    await reply(update, context, context.text("broadcast_choose_audience"), one_per_row(buttons))
    return Step.AUDIENCE


async def choose_audience(update: Update, context: MaoContext) -> int:
    await pressed(update)
    await close_buttons(update)
    assert context.user_data is not None
    audience = Recipients(context.matched("audience"))
    context.user_data[DRAFT] = {"audience": audience.value}
    if not audience.needs_activity:
        await reply(update, context, context.text("broadcast_ask_text"))
        return Step.TEXT
    services = context.services
    with services.db.session() as session:
        activities = upcoming_activities(session, services.now())
    language = context.language
    buttons = [
        (a.title(language), callbacks.BROADCAST_ACTIVITY.data(activity=a.id))
        for a in activities[:20]
    ]
    await reply(update, context, context.text("broadcast_choose_activity"), one_per_row(buttons))
    return Step.ACTIVITY


async def choose_activity(update: Update, context: MaoContext) -> int:
    await pressed(update)
    await close_buttons(update)
    assert context.user_data is not None
    with context.services.db.session() as session:
        activity = get_activity_by_id(session, int(context.matched("activity")))
    if activity is None:
        await reply(update, context, context.text("signup_not_found"))
        return END
    context.user_data[DRAFT]["activity_id"] = activity.id
    await reply(update, context, context.text("broadcast_ask_text"))
    return Step.TEXT


async def receive_text(update: Update, context: MaoContext) -> int:
    message = update.effective_message
    assert message is not None and context.user_data is not None
    # text_html keeps the organiser's own formatting (bold, links) as Telegram HTML.
    text = message.text_html if message.entities else (message.text or "")
    # No control characters into the database (PostgreSQL refuses NUL) nor to recipients.
    text = clean_text(text)
    problems = message_problems(text)
    if problems:
        await reply(
            update, context, context.text("broadcast_bad_html", problems="; ".join(problems))
        )
        return Step.TEXT
    draft = context.user_data[DRAFT]
    draft["text"] = text
    with context.services.db.session() as session:
        recipients = audience_user_ids(
            session, Recipients(draft["audience"]), draft.get("activity_id")
        )
    await reply(update, context, context.text("broadcast_preview_intro"))
    try:
        # The preview is the message itself, exactly as recipients will see it.
        await context.bot.send_message(message.chat_id, text)
    except BadRequest as error:
        await reply(update, context, context.text("broadcast_bad_html", problems=str(error)))
        return Step.TEXT
    await reply(
        update,
        context,
        context.text("broadcast_confirm", count=len(recipients)),
        keyboard(
            [
                [
                    (context.text("broadcast_send"), callbacks.BROADCAST_SEND.data()),
                    (context.text("broadcast_abort"), callbacks.BROADCAST_ABORT.data()),
                ]
            ]
        ),
    )
    return Step.CONFIRM


async def confirm(update: Update, context: MaoContext) -> int:
    query = await pressed(update)
    assert context.user_data is not None
    if not _is_admin(update, context):
        await close_buttons(update)
        return await _refuse(update, context)
    draft = context.user_data.get(DRAFT, {})
    if "text" not in draft:
        await close_buttons(update)
        await reply(update, context, context.text("stale_button"))
        return END
    services = context.services
    # The progress message exists before the first recipient can be reached, so the report
    # always has a place to appear.
    status = await reply(update, context, context.text("broadcast_started"))
    with services.db.session() as session:
        broadcast_id = create_broadcast(
            session,
            query.from_user.id,
            Recipients(draft["audience"]),
            draft.get("activity_id"),
            draft["text"],
            services.now(),
        )
        if status is not None:
            set_status_message(session, broadcast_id, status.chat_id, status.message_id)
    context.user_data.pop(DRAFT, None)
    await close_buttons(update)
    # Every recipient's message is owed now; the outbox sends them after anything personal.
    outbox_of(context.application).kick()
    return END


async def retry_failed(update: Update, context: MaoContext) -> None:
    """ "Send again to the failed ones", from the final report."""
    await pressed(update)
    if not _is_admin(update, context):
        await _refuse(update, context)
        return
    services = context.services
    with services.db.session() as session:
        count = reopen_broadcast(session, int(context.matched("broadcast")), services.now())
    await close_buttons(update)
    await reply(update, context, context.text("broadcast_retrying", count=count))
    outbox_of(context.application).kick()


async def abort(update: Update, context: MaoContext) -> int:
    if update.callback_query is not None:
        await pressed(update)
        await close_buttons(update)
    if context.user_data is not None:
        context.user_data.pop(DRAFT, None)
    await reply(update, context, context.text("broadcast_aborted"))
    return END


async def expect_button(update: Update, context: MaoContext) -> None:
    await reply(update, context, context.text("signup_use_buttons"))


async def attendees(update: Update, context: MaoContext) -> None:
    if not _is_admin(update, context):
        await _refuse(update, context)
        return
    services = context.services
    with services.db.session() as session:
        activities = upcoming_activities(session, services.now())
    language = context.language
    buttons = [
        (a.title(language), callbacks.ATTENDEES_OF.data(activity=a.id)) for a in activities[:20]
    ]
    await reply(update, context, context.text("attendees_choose"), one_per_row(buttons))


async def attendees_of(update: Update, context: MaoContext) -> None:
    query = await pressed(update)
    if not _is_admin(update, context):
        await _refuse(update, context)
        return
    services = context.services
    with services.db.session() as session:
        activity = get_activity_by_id(session, int(context.matched("activity")))
        rows = export_registrations(session, activity.slug) if activity else None
    if activity is None or rows is None:
        await reply(update, context, context.text("signup_not_found"))
        return
    registered = [r for r in rows if r.status == RegistrationStatus.REGISTERED]
    waiting = [
        r for r in rows if r.status in (RegistrationStatus.WAITING, RegistrationStatus.OFFERED)
    ]
    language = context.language
    names = "\n".join(f"• {r.name}" for r in registered[:50])
    await reply(
        update,
        context,
        context.text(
            "attendees_summary",
            title=activity.title(language),
            registered=len(registered),
            waiting=len(waiting),
            names=names or "–",
        ),
    )
    await context.bot.send_document(
        query.from_user.id,
        InputFile(
            export_csv(rows, services.config.zone).encode("utf-8"),
            filename=f"deelnemers-{activity.slug}.csv",
        ),
    )


def build_handlers() -> Handlers:
    typed = filters.TEXT & ~filters.COMMAND
    with warnings.catch_warnings():
        # per_message=False is intended: one broadcast draft per organiser (see signup.py).
        warnings.simplefilter("ignore", PTBUserWarning)
        conversation = ConversationHandler(
            name="broadcast",
            persistent=True,
            allow_reentry=True,
            entry_points=[CommandHandler(["omroep", "broadcast"], start_broadcast)],
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
                Step.CONFIRM: state_handlers(
                    CallbackQueryHandler(confirm, pattern=callbacks.BROADCAST_SEND.pattern),
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
        CommandHandler(["deelnemers", "attendees"], attendees),
        CallbackQueryHandler(attendees_of, pattern=callbacks.ATTENDEES_OF.pattern),
        CallbackQueryHandler(retry_failed, pattern=callbacks.BROADCAST_RETRY.pattern),
    ]
