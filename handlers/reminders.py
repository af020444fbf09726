"""/herinneringen (/reminders): switch reminders off and on; the "Ik kom" answer."""

from __future__ import annotations

from telegram import Update
from telegram.ext import CallbackQueryHandler, CommandHandler

from core import callbacks
from core.context import Handlers, MaoContext
from core.keyboards import keyboard
from core.replies import close_buttons, pressed, reply
from storage.users import get_user, set_flags


async def show_reminder_setting(update: Update, context: MaoContext) -> None:
    user = update.effective_user
    assert user is not None
    # Not a read to do without: a wrong "on" or "off" would mislead; an outage says so.
    info = await context.services.db.run_reading(get_user, user.id)
    enabled = info.reminders_enabled if info else True
    if enabled:
        text, button = (
            context.text("reminders_are_on"),
            (context.text("reminders_turn_off"), callbacks.REMINDERS_SET.data(state="off")),
        )
    else:
        text, button = (
            context.text("reminders_are_off"),
            (context.text("reminders_turn_on"), callbacks.REMINDERS_SET.data(state="on")),
        )
    await reply(update, context, text, keyboard([[button]]))


async def set_reminders(update: Update, context: MaoContext) -> None:
    query = await pressed(update)
    enabled = context.matched("state") == "on"
    user_id = query.from_user.id
    await context.services.db.run_session(
        lambda session: set_flags(session, user_id, reminders_enabled=enabled)
    )
    await close_buttons(update)
    await reply(
        update, context, context.text("reminders_now_on" if enabled else "reminders_now_off")
    )


async def coming(update: Update, context: MaoContext) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer(context.text("reminder_see_you"))
    await close_buttons(update)


def build_handlers() -> Handlers:
    return [
        CommandHandler(["herinneringen", "reminders"], show_reminder_setting),
        CallbackQueryHandler(set_reminders, pattern=callbacks.REMINDERS_SET.pattern),
        CallbackQueryHandler(coming, pattern=callbacks.REMINDER_COMING.pattern),
    ]
