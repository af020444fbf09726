"""The inbox's organisers' side, shared by the inbox's handlers and the copies it owes
(handlers/inbox_owed.py): where organisers read it, how a thread is named to them, and the
buttons under a copy."""

from __future__ import annotations

from sqlalchemy.orm import Session
from telegram import InlineKeyboardMarkup

from core import callbacks
from core.context import MaoContext
from core.keyboards import Button, keyboard
from core.services import Services
from core.text_limits import clip, plain_name
from storage.inbox import ThreadInfo, ThreadKind
from storage.organisers import stored_organisers


def organiser_chats(services: Services, session: Session) -> list[int]:
    """Where the organisers read the inbox: their group, or else each organiser privately."""
    if services.config.inbox.chat_id is not None:
        return [services.config.inbox.chat_id]
    return each_organiser(services, session)


def each_organiser(services: Services, session: Session) -> list[int]:
    """Every organiser's private chat: config's admins and those added with `admin add`."""
    return sorted({*services.config.admins, *stored_organisers(session)})


def who(context: MaoContext, thread: ThreadInfo) -> str:
    """The sender as organisers see them: the first name only, or "anoniem"."""
    if thread.anonymous:
        return context.text("inbox_anonymous_name")
    # Cleaned again here: threads stored before names were cleaned at input.
    return clip(plain_name(thread.first_name or ""), 40) or context.text("inbox_no_name")


def label(context: MaoContext, kind: ThreadKind) -> str:
    return context.text(f"inbox_label_{kind.value}")


def organiser_buttons(
    context: MaoContext, thread: ThreadInfo, answered_button: bool = True
) -> InlineKeyboardMarkup | None:
    row: list[Button] = []
    if answered_button:
        row.append(
            (
                context.text("inbox_answered_button"),
                callbacks.INBOX_ANSWERED.data(thread=thread.id),
            )
        )
    if thread.kind is ThreadKind.QUESTION:
        # Handled by handlers/faq_learning.py: the question becomes a phrasing of a topic.
        row.append(
            (context.text("inbox_faq_add_button"), callbacks.FAQ_ADD_THREAD.data(thread=thread.id))
        )
    return keyboard([row]) if row else None
