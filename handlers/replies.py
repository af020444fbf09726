"""Small helpers for answering the user in the chat the update came from."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import MessageLimit

from handlers.context import MaoContext

Button = tuple[str, str]  # (label, callback data)


def shorten(text: str, limit: int) -> str:
    """Cut at a word boundary with an ellipsis, for button labels on a phone screen."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] if " " in text[: limit - 1] else text[: limit - 1]
    return cut.rstrip(" -–:(") + "…"


def keyboard(rows: Sequence[Sequence[Button]]) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(shorten(label, 60), callback_data=data) for label, data in row]
            for row in rows
        ]
    )


def one_per_row(buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
    return keyboard([[button] for button in buttons])


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
