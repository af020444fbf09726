"""Small helpers for answering the user in the chat the update came from."""

from __future__ import annotations

import logging

from telegram import CallbackQuery, ForceReply, InlineKeyboardMarkup, Message, Update
from telegram.constants import MessageLimit
from telegram.error import BadRequest

from core.context import MaoContext
from core.text_limits import fit_html, visible_length

logger = logging.getLogger(__name__)


async def reply(
    update: Update,
    context: MaoContext,
    text: str,
    markup: InlineKeyboardMarkup | ForceReply | None = None,
) -> Message | None:
    chat = update.effective_chat
    if chat is None:
        return None
    # Telegram counts a character at most twice (outside the BMP), so most replies are short
    # enough not to count: counting walks every character, for every reply.
    too_long = 2 * len(text) > MessageLimit.MAX_TEXT_LENGTH
    if too_long and visible_length(text) > MessageLimit.MAX_TEXT_LENGTH:
        # Callers shorten user values before escaping them (core.text_limits.clip); this
        # is the safety net, and cuts without breaking a tag or an entity.
        logger.warning("Reply of %d visible characters shortened", visible_length(text))
        text = fit_html(text, MessageLimit.MAX_TEXT_LENGTH)
    return await context.bot.send_message(chat_id=chat.id, text=text, reply_markup=markup)


async def pressed(update: Update, alert: str | None = None) -> CallbackQuery:
    """Answer a button press (which stops the spinner on the user's phone) and return it.

    Handlers read the button's values from `context.matched(...)`, not from the raw data.
    """
    query = update.callback_query
    assert query is not None
    if alert is None:
        await query.answer()
    else:
        await query.answer(alert, show_alert=True)
    return query


def _unchanged(error: BadRequest) -> bool:
    """Telegram's answer to an edit that changes nothing, or to one of a deleted message."""
    return "not modified" in str(error) or "not found" in str(error)


async def edit_pressed(
    update: Update,
    context: MaoContext,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
) -> None:
    """Show new content in the message whose button was pressed (a new message if that one
    is too old to edit). Pressing the same page twice changes nothing, and says nothing."""
    query = update.callback_query
    if query is None or query.message is None or not query.message.is_accessible:
        await reply(update, context, text, markup)
        return
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as error:
        if not _unchanged(error):
            raise


async def close_buttons(update: Update) -> None:
    """Remove the keyboard of the message whose button was pressed, against double taps.

    Called after the action's write succeeded, so a failed action can be pressed again. A
    second tap whose message was already closed makes Telegram answer "message is not
    modified": nothing is wrong then, so nothing is said.
    """
    query = update.callback_query
    if query is None or query.message is None or not query.message.is_accessible:
        return
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except BadRequest as error:
        if not _unchanged(error):
            raise
        logger.debug("Buttons were already closed")


async def stale_button(update: Update, context: MaoContext) -> None:
    logger.info("Stale or unknown button pressed")
    await pressed(update, alert=context.text("stale_button"))
