"""Inline keyboards: rows of (label, callback data) made into Telegram's markup."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from core import callbacks
from core.context import MaoContext
from core.links import start_link

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


def private_chat_keyboard(label: str, bot_username: str, start: str) -> InlineKeyboardMarkup:
    """One button that opens a private chat with the bot, which then receives "/start <start>".

    A URL button (t.me deep link), not callback data: it works for anyone who sees it, and
    pressing it tells the bot nothing until the person starts the private chat."""
    url = start_link(bot_username, start)
    return InlineKeyboardMarkup([[InlineKeyboardButton(shorten(label, 60), url=url)]])


def offer_buttons(registration_id: int, context: MaoContext) -> list[list[Button]]:
    """Claim or decline a seat offered from the waiting list (here and in the offer notice)."""
    return [
        [
            (
                context.text("offer_claim"),
                callbacks.OFFER_CLAIM.data(registration=registration_id),
            ),
            (
                context.text("offer_decline"),
                callbacks.OFFER_DECLINE.data(registration=registration_id),
            ),
        ]
    ]
