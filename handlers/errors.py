"""The one error handler: log the failure for the operator, apologise to the user."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import Forbidden, TelegramError

from core.context import MaoContext, user_language

logger = logging.getLogger(__name__)


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
    if isinstance(context.error, Forbidden):
        return
    try:
        user_language(update, context)
        email = context.services.config.contact.email
        await context.bot.send_message(
            update.effective_chat.id, context.text("error", email=email)
        )
    except TelegramError:
        logger.warning("Could not send the apology either")
