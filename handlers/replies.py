"""Small helpers for answering the user in the chat the update came from."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import MessageLimit

from core.context import MaoContext


async def reply(
    update: Update,
    context: MaoContext,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
) -> Message | None:
    chat = update.effective_chat
    if chat is None:
        return None
    return await context.bot.send_message(
        chat_id=chat.id,
        text=text[: MessageLimit.MAX_TEXT_LENGTH],
        reply_markup=markup,
    )


async def close_buttons(update: Update) -> None:
    """Remove the keyboard of the message whose button was pressed, against double taps."""
    query = update.callback_query
    if query is not None and query.message is not None and query.message.is_accessible:
        await query.edit_message_reply_markup(reply_markup=None)
