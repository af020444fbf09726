"""The messages the inbox (handlers/inbox.py, storage/inbox.py) owes: a person's message
copied to the organisers (their group, or each organiser privately), an organiser's answer
relayed to the person, and a note to the organiser when that answer could not be
delivered. Each is written out at send time, so a thread deleted meanwhile (/vergeetmij,
retention) is not sent; after sending, where each copy landed is recorded.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session
from telegram import Message

from core.context import MaoContext
from core.services import Services
from core.text_limits import clip, fit_html
from jobs.inbox_delivery import each_organiser, label, organiser_buttons, who
from jobs.owed_kinds import Owed, OwedKind, Rendered
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
from storage.outbox import OutboxKind, OutboxStatus, OwedMessage, Priority, tried_for
from storage.users import UserInfo, get_user

logger = logging.getLogger(__name__)
SNIPPET = 120  # characters of the person's message quoted above an answer
TEXT_ROOM = 3600  # visible characters of one message's text in a copy


@dataclass(frozen=True)
class InboxCopy:
    """What an inbox copy is made from: the message, its thread (all of it, in order) and
    the person as stored."""

    message: MessageInfo
    thread: ThreadInfo
    messages: list[MessageInfo]
    person: UserInfo | None

    @property
    def follow_up(self) -> bool:
        """A message from the person after the thread's first one."""
        return bool(self.messages) and self.messages[0].id != self.message.id


def load_copy(session: Session, owed: Owed, _services: Services) -> InboxCopy | None:
    inbox_id = owed.message.payload.get("message")
    if not isinstance(inbox_id, int):
        return None
    message = get_message(session, inbox_id)
    thread = get_thread(session, message.thread_id) if message else None
    if message is None or thread is None:
        return None
    person = get_user(session, thread.user_id) if thread.user_id is not None else None
    return InboxCopy(message, thread, thread_messages(session, thread.id), person)


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


def to_organisers(context: MaoContext, owed: Owed, copy: InboxCopy) -> Rendered:
    # Organisers read the inbox together (a group): in the catalogue's default language.
    services = context.services
    context.cached_language = services.catalogue.default
    thread = copy.thread
    values = {
        "label": label(context, thread.kind),
        "thread": thread.id,
        "name": who(context, thread),
        "language": services.catalogue.text(thread.language, "language_name"),
    }
    key = "inbox_copy_follow_up" if copy.follow_up else "inbox_copy_header"
    parts = [
        context.text(key, **values),
        f"<blockquote>{html.escape(clip(copy.message.text, TEXT_ROOM))}</blockquote>",
    ]
    if thread.kind is ThreadKind.QUESTION and not copy.follow_up:
        guesses = guesses_text(context, thread)
        if guesses:
            parts.append(guesses)
    parts.append(
        context.text("inbox_copy_anonymous_hint" if thread.anonymous else "inbox_copy_hint")
    )
    return Rendered(text=fit_html("\n\n".join(parts)), markup=organiser_buttons(context, thread))


def to_person(context: MaoContext, owed: Owed, copy: InboxCopy) -> Rendered | None:
    thread = copy.thread
    if thread.user_id is None or owed.message.user_id != thread.user_id:
        return None
    context.cached_language = (copy.person.language if copy.person else None) or thread.language
    first = copy.messages[0] if copy.messages else None
    parts = [context.text("inbox_answer_header")]
    if first is not None:
        parts.append(context.text("inbox_answer_about", snippet=clip(first.text, SNIPPET)))
    parts.append(html.escape(clip(copy.message.text, TEXT_ROOM)))
    parts.append(context.text("inbox_answer_hint"))
    return Rendered(text=fit_html("\n\n".join(parts)))


def undelivered(context: MaoContext, owed: Owed, copy: InboxCopy) -> Rendered:
    thread = copy.thread
    text = context.text(
        "inbox_undelivered",
        label=label(context, thread.kind),
        thread=thread.id,
        name=who(context, thread),
    )
    return Rendered(text=text)


def after_send(
    services: Services,
    session: Session,
    message: OwedMessage,
    status: OutboxStatus,
    sent: Message | None,
) -> None:
    """In the transaction that settles a copy: records where it landed (so a reply to it
    finds its thread), tells the organiser who answered when the answer could not be
    delivered (blocked, or refused by Telegram; the organisers' chat when that organiser
    cannot be reached either), and sends each organiser a copy privately when the
    organisers' group refused one (the bot was removed from it, or its id is wrong)."""
    assert message.kind in INBOX_KINDS
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


# A person waits for each of these: tried for a week (an organiser's group may be unreachable
# for a while, a phone switched off over a holiday).
A_WEEK = tried_for(timedelta(days=7))

OWED: tuple[OwedKind[InboxCopy], ...] = (
    # Somebody is waiting for each of these.
    OwedKind(
        OutboxKind.INBOX_TO_ORGANISERS,
        Priority.PERSONAL,
        A_WEEK,
        load_copy,
        to_organisers,
        after_send,
    ),
    OwedKind(
        OutboxKind.INBOX_TO_USER, Priority.PERSONAL, A_WEEK, load_copy, to_person, after_send
    ),
    OwedKind(
        OutboxKind.INBOX_UNDELIVERED, Priority.NOTICE, A_WEEK, load_copy, undelivered, after_send
    ),
    # Never sent: a thread's words shown in an organisers' chat by a reply (the FAQ topic
    # picker), recorded so that /vergeetmij deletes it there too (storage/inbox.py).
    OwedKind(OutboxKind.INBOX_SHOWN, Priority.NOTICE, A_WEEK),
)
