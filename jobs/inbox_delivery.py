"""Delivering the inbox (storage/inbox.py) through the outbox: what each copy says, and what
happens after Telegram answered.

Three kinds of owed message: a person's message copied to the organisers (their group, or
each organiser privately), an organiser's answer relayed to the person, and a note to the
organiser when that answer could not be delivered. Each is written out at send time, so a
thread deleted meanwhile (/vergeetmij, retention) is not sent.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session
from telegram import InlineKeyboardMarkup, Message

from core import callbacks
from core.context import MaoContext
from core.keyboards import Button, keyboard
from core.services import Services
from core.text_limits import clip, fit_html, plain_name
from storage.inbox import (
    INBOX_KINDS,
    MessageInfo,
    ThreadInfo,
    ThreadKind,
    get_message,
    get_thread,
    owe_copies,
    owe_undelivered,
    record_copy,
    thread_messages,
)
from storage.organisers import stored_organisers
from storage.outbox import OutboxKind, OutboxStatus, OwedMessage
from storage.users import get_user

logger = logging.getLogger(__name__)
SNIPPET = 120  # characters of the person's message quoted above an answer
TEXT_ROOM = 3600  # visible characters of one message's text in a copy


@dataclass(frozen=True)
class InboxCopy:
    text: str
    markup: InlineKeyboardMarkup | None = None


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


def guesses_text(context: MaoContext, thread: ThreadInfo) -> str:
    """The FAQ's best guesses, by their question, so organisers see what it thought of."""
    services = context.services
    questions: list[str] = []
    for entry_id in thread.guesses[:3]:
        entry = services.faq.entry(entry_id)
        if entry is not None:
            questions.append("• " + html.escape(entry.localised(context.language).question))
    if not questions:
        return ""
    return context.text("inbox_copy_guesses") + "\n" + "\n".join(questions)


def organiser_copy(
    context: MaoContext, thread: ThreadInfo, message: MessageInfo, follow_up: bool
) -> InboxCopy:
    services = context.services
    values = {
        "label": label(context, thread.kind),
        "thread": thread.id,
        "name": who(context, thread),
        "language": services.catalogue.text(thread.language, "language_name"),
    }
    header = context.text("inbox_copy_follow_up" if follow_up else "inbox_copy_header", **values)
    parts = [header, f"<blockquote>{html.escape(clip(message.text, TEXT_ROOM))}</blockquote>"]
    if thread.kind is ThreadKind.QUESTION and not follow_up:
        guesses = guesses_text(context, thread)
        if guesses:
            parts.append(guesses)
    parts.append(
        context.text("inbox_copy_anonymous_hint" if thread.anonymous else "inbox_copy_hint")
    )
    text = fit_html("\n\n".join(parts))
    return InboxCopy(text, organiser_buttons(context, thread))


def answer_copy(
    context: MaoContext, thread: ThreadInfo, first: MessageInfo | None, answer: MessageInfo
) -> InboxCopy:
    parts = [context.text("inbox_answer_header")]
    if first is not None:
        parts.append(context.text("inbox_answer_about", snippet=clip(first.text, SNIPPET)))
    parts.append(html.escape(clip(answer.text, TEXT_ROOM)))
    parts.append(context.text("inbox_answer_hint"))
    return InboxCopy(fit_html("\n\n".join(parts)))


def render_inbox(message: OwedMessage, context: MaoContext, now: datetime) -> InboxCopy | None:
    """The copy as it should read now, or None when it is no longer owed (thread deleted)."""
    services = context.services
    inbox_id = message.payload.get("message")
    if not isinstance(inbox_id, int):
        return None
    with services.db.reading() as session:
        inbox_message = get_message(session, inbox_id)
        thread = get_thread(session, inbox_message.thread_id) if inbox_message else None
        if inbox_message is None or thread is None:
            return None
        messages = thread_messages(session, thread.id)
        person = get_user(session, thread.user_id) if thread.user_id is not None else None
    # A message from the person after the thread's first one is a follow-up.
    follow_up = bool(messages) and messages[0].id != inbox_message.id
    if message.kind is OutboxKind.INBOX_TO_ORGANISERS:
        # Organisers read the inbox together (a group): in the catalogue's default language.
        context.cached_language = services.catalogue.default
        return organiser_copy(context, thread, inbox_message, follow_up)
    if message.kind is OutboxKind.INBOX_TO_USER:
        if thread.user_id is None or message.user_id != thread.user_id:
            return None
        context.cached_language = (person.language if person else None) or thread.language
        return answer_copy(context, thread, messages[0] if messages else None, inbox_message)
    if message.kind is OutboxKind.INBOX_UNDELIVERED:
        text = context.text(
            "inbox_undelivered",
            label=label(context, thread.kind),
            thread=thread.id,
            name=who(context, thread),
        )
        return InboxCopy(text)
    return None


def after_send(
    services: Services,
    session: Session,
    message: OwedMessage,
    status: OutboxStatus,
    sent: Message | None,
) -> None:
    """Called by the outbox in the transaction that settles a message: records where an inbox
    copy landed (so a reply to it finds its thread), tells the organiser who answered when
    the answer could not be delivered (blocked, or refused by Telegram; the
    organisers' chat when that organiser cannot be reached either), and sends each organiser
    a copy privately when the organisers' group refused one (the bot was removed from it, or
    its id is wrong)."""
    if message.kind not in INBOX_KINDS:
        return
    inbox_id = message.payload.get("message")
    if not isinstance(inbox_id, int):
        return
    now = services.now()
    if status is OutboxStatus.SENT and sent is not None:
        record_copy(session, message.id, message.kind, inbox_id, sent.chat_id, sent.message_id)
        return
    if status not in (OutboxStatus.BLOCKED, OutboxStatus.FAILED):
        return  # unconfirmed: most likely delivered; nothing to repair
    group = services.config.inbox.chat_id
    if message.kind is OutboxKind.INBOX_TO_USER:
        logger.info("Inbox answer %s not delivered (%s)", inbox_id, status.value)
        owe_undelivered(session, inbox_id, now)
    elif message.kind is OutboxKind.INBOX_UNDELIVERED and group not in (None, message.user_id):
        # The organiser who answered cannot be reached privately: tell the organisers' chat.
        owe_undelivered(session, inbox_id, now, chat_id=group)
    elif message.kind is OutboxKind.INBOX_TO_ORGANISERS and message.user_id == group:
        logger.warning(
            "The organisers' group refused inbox message %s: sent to each organiser", inbox_id
        )
        owe_copies(session, inbox_id, each_organiser(services, session), now)
