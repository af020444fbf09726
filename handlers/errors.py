"""The one error handler: log the failure for the operator, apologise to the user once.

It needs nothing that can fail: no database (an outage is a likely cause of the error), just
the language already known for this update or the one the user's Telegram app reports.
When the database is away, the user hears that (and that nothing is lost), and a button
press or command says what did not happen; any handler gets this by letting the error rise.
"""

from __future__ import annotations

import html
import logging
from collections import deque

from telegram import Message, Update
from telegram.error import Forbidden, TelegramError

from core.context import MaoContext, language_from_client
from storage.db import is_outage

logger = logging.getLogger(__name__)
APOLOGISED_KEY = "apologised_updates"


def _first_apology(update: Update, context: MaoContext) -> bool:
    """Several handler groups may fail on one update; the user hears about it once."""
    seen: deque[int] = context.application.bot_data.setdefault(APOLOGISED_KEY, deque(maxlen=500))
    if update.update_id in seen:
        return False
    seen.append(update.update_id)
    return True


async def handle_error(update: object, context: MaoContext) -> None:
    # The traceback names code, never message text or the token (see bot.logs).
    logger.error(
        "Update %s failed: %s",
        update.update_id if isinstance(update, Update) else "-",
        type(context.error).__name__,
        exc_info=context.error,
    )
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    if isinstance(context.error, Forbidden) or not _first_apology(update, context):
        return
    user = update.effective_user
    language = context.cached_language or language_from_client(
        user.language_code if user else None
    )
    services = context.services
    if context.error is not None and is_outage(context.error):
        text = services.catalogue.text(language, "error_database_away")
        action = _what_was_asked(update)
        if action:
            text += "\n" + services.catalogue.text(
                language, "error_database_away_action", action=html.escape(action)
            )
    else:
        text = services.catalogue.text(language, "error", email=services.config.contact.email)
    try:
        await context.bot.send_message(update.effective_chat.id, text)
    except TelegramError:
        logger.warning("Could not send the apology either")


def _what_was_asked(update: Update) -> str | None:
    """The pressed button's label or the command: what did not happen."""
    query = update.callback_query
    if query is not None:
        markup = query.message.reply_markup if isinstance(query.message, Message) else None
        for row in markup.inline_keyboard if markup is not None else ():
            for button in row:
                if button.callback_data == query.data:
                    return f"‘{button.text}’"
        return None
    message = update.effective_message
    text = message.text if message is not None else None
    if text and text.startswith("/"):
        return text.split()[0].split("@")[0]
    return None
