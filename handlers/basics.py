"""Greeting, help, language, and the catch-alls for unknown input."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial

from telegram import Update
from telegram.ext import (
    ApplicationHandlerStop,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from core import callbacks
from core.chats import command_for_another_bot
from core.context import Handlers, MaoContext, language_from_client
from core.help import show_help
from core.inbox_access import leaves_no_trace
from core.keyboards import keyboard
from core.menus import set_chat_commands
from core.replies import close_buttons, pressed, reply, stale_button
from core.seen import forget_seen, recently_seen
from storage.db import is_outage
from storage.users import get_user, set_flags, set_language, touch_user

logger = logging.getLogger(__name__)


# "Last seen" is written at most this often per user: every update paid two write
# transactions for it before, the largest cost of a simple question.
SEEN_EVERY = timedelta(minutes=5)
SEEN_KEPT = 10_000


async def remember_user(update: Update, context: MaoContext) -> None:
    """Keep first/last seen up to date and fix the language for the rest of the update."""
    user = update.effective_user
    if user is None or user.is_bot:
        return
    now = context.services.now()
    seen = recently_seen(context)
    last = seen.get(user.id)
    database = context.services.db
    try:
        if leaves_no_trace(update, context):
            # A story or bottleneck, perhaps anonymous: no "last seen" now, and (as if one had
            # been written) none for SEEN_EVERY after it either.
            if last is None:
                database.refuse_while_away(or_slow=True)
                info = await database.run_reading(
                    get_user, user.id, limit=database.timeouts.read, slow_is_away=False
                )
                last = (now, info.language if info else None)
            last = seen[user.id] = (now, last[1])
        elif last is None or now - last[0] >= SEEN_EVERY:
            database.refuse_while_away(or_slow=True)
            info = await database.run_session(
                touch_user, user.id, now, limit=database.timeouts.read, slow_is_away=False
            )
            if len(seen) >= SEEN_KEPT:
                seen.clear()  # a rare full reset costs one write per active user
            last = seen[user.id] = (now, info.language)
    except Exception as error:
        if not is_outage(error):
            raise
        # The database away: answered in the language the user's app reports, and
        # recorded at a later update.
        context.cached_language = language_from_client(user.language_code)
        return
    assert last is not None
    context.cached_language = last[1] or language_from_client(user.language_code)


async def start(update: Update, context: MaoContext) -> None:
    user = update.effective_user
    if user is not None:
        # /start is also how a user turns announcements back on.
        await context.services.db.run_session(
            partial(set_flags, announcements_opt_out=False), user.id, fail_fast=True
        )
    first_name = user.first_name if user else ""
    name_part = f" {first_name[:40]}" if first_name else ""
    await reply(update, context, context.text("start", name_part=name_part))


async def opt_out(update: Update, context: MaoContext) -> None:
    """/afmeldennieuws: no more general announcements (/start turns them on again)."""
    user = update.effective_user
    assert user is not None
    await context.services.db.run_session(
        partial(set_flags, announcements_opt_out=True), user.id, fail_fast=True
    )
    await reply(update, context, context.text("optout_done"))


async def choose_language(update: Update, context: MaoContext) -> None:
    await reply(
        update,
        context,
        context.text("choose_language"),
        keyboard(
            [
                [
                    ("🇳🇱 Nederlands", callbacks.LANGUAGE_SET.data(language="nl")),
                    ("🇬🇧 English", callbacks.LANGUAGE_SET.data(language="en")),
                ]
            ]
        ),
    )


async def set_user_language(update: Update, context: MaoContext) -> None:
    query = await pressed(update)
    language = context.matched("language")
    if language not in context.services.config.language.supported:
        return
    await context.services.db.run_session(
        set_language, query.from_user.id, language, context.services.now(), fail_fast=True
    )
    context.cached_language = language
    forget_seen(context, query.from_user.id)
    await close_buttons(update)
    await set_chat_commands(context.bot, context.services, query.from_user.id, language)
    await reply(update, context, context.text("language_set"))


async def unknown_command(update: Update, context: MaoContext) -> None:
    message = update.effective_message
    if message is not None and command_for_another_bot(message, context.bot.username):
        return  # "/ban@OtherBot" is not for us (PTB's CommandHandler ignores it too)
    await reply(update, context, context.text("unknown_command"))


async def non_text(update: Update, context: MaoContext) -> None:
    await reply(update, context, context.text("non_text_message"))


def build_handlers() -> Handlers:
    return [
        CommandHandler("start", start),
        CommandHandler("help", show_help),
        CommandHandler(["afmeldennieuws", "optout"], opt_out),
        CommandHandler(["taal", "language"], choose_language),
        CallbackQueryHandler(set_user_language, pattern=callbacks.LANGUAGE_SET.pattern),
    ]


def build_tracking_handler() -> TypeHandler[Update, MaoContext, None]:
    return TypeHandler(Update, remember_user)


class EmptyButton(BaseHandler[Update, MaoContext, None]):
    """A button press without data: Telegram's clients never send one, a forger can.
    PTB's CallbackQueryHandler lets such a press match every pattern, so it is caught
    before any of them."""

    def check_update(self, update: object) -> bool:
        return (
            isinstance(update, Update)
            and update.callback_query is not None
            and not update.callback_query.data
        )


async def refuse_empty_button(update: Update, context: MaoContext) -> None:
    await stale_button(update, context)
    raise ApplicationHandlerStop


def build_empty_button_handler() -> EmptyButton:
    return EmptyButton(refuse_empty_button)


def build_fallback_handlers() -> Handlers:
    return [
        MessageHandler(filters.COMMAND, unknown_command),
        MessageHandler(
            filters.ChatType.PRIVATE & ~filters.TEXT & ~filters.StatusUpdate.ALL, non_text
        ),
        CallbackQueryHandler(stale_button),
    ]
