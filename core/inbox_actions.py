"""What the inbox's handlers do in the database: one plain function per action, each run in
one transaction through the database seam (`Database.run_session` / `run_reading`), so that
handlers/inbox.py only turns the result into messages.

Who reads the inbox (the organisers' group, or each organiser privately) is passed in as
`recipients_of`: it depends on the configuration, and is read in the same transaction as
the message it receives, so that a copy is owed to exactly the chats that existed then.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from storage.blocks import blocked_since
from storage.inbox import (
    Direction,
    MessageInfo,
    ThreadInfo,
    ThreadKind,
    ThreadPage,
    add_answer,
    add_follow_up,
    find_organiser_copy,
    find_user_copy,
    get_thread,
    mark_answered,
    open_threads,
    start_thread,
    thread_messages,
)

RecipientsOf = Callable[[Session], Sequence[int]]


@dataclass(frozen=True)
class HandOver:
    """A message to the programme office: stored as `thread_id` with copies owed to
    `recipients`; or not stored, because its sender is blocked or nobody reads the inbox."""

    thread_id: int | None
    recipients: tuple[int, ...] = ()
    blocked: bool = False


def hand_over(
    session: Session,
    *,
    recipients_of: RecipientsOf,
    sender: int,
    anonymous: bool,
    first_name: str,
    language: str,
    kind: ThreadKind,
    text: str,
    guesses: Sequence[str],
    now: datetime,
) -> HandOver:
    # Blocked is checked in the transaction that stores: a block made since the preview
    # holds.
    if blocked_since(session, sender) is not None:
        return HandOver(None, blocked=True)
    recipients = tuple(recipients_of(session))
    if not recipients:
        return HandOver(None)
    thread_id = start_thread(
        session,
        user_id=None if anonymous else sender,
        first_name=None if anonymous else first_name,
        language=language,
        kind=kind,
        text=text,
        guesses=guesses,
        now=now,
        recipients=recipients,
    )
    return HandOver(thread_id, recipients)


@dataclass(frozen=True)
class ReplyTarget:
    """What a reply to one of the bot's messages answers: an organisers' copy (`copy`), an
    answer relayed to the person (`answered`), or neither."""

    copy: MessageInfo | None
    answered: MessageInfo | None

    @property
    def found(self) -> bool:
        return self.copy is not None or self.answered is not None


def reply_target(session: Session, chat_id: int, message_id: int) -> ReplyTarget:
    return ReplyTarget(
        find_organiser_copy(session, chat_id, message_id),
        find_user_copy(session, chat_id, message_id),
    )


@dataclass(frozen=True)
class Answered:
    """An organiser's answer: `answer_id` None when there is nobody to answer (anonymous)."""

    thread: ThreadInfo
    answer_id: int | None


def answer_thread(
    session: Session, thread_id: int, text: str, author_id: int, now: datetime
) -> Answered | None:
    """None: the thread was deleted meanwhile (/vergeetmij, retention)."""
    thread = get_thread(session, thread_id)
    if thread is None:
        return None
    return Answered(thread, add_answer(session, thread_id, text, author_id, now))


@dataclass(frozen=True)
class FollowUp:
    """The person answered back: copies owed to `recipients`, or nothing stored (blocked)."""

    thread: ThreadInfo
    recipients: tuple[int, ...] = ()
    blocked: bool = False


def answer_back(
    session: Session,
    *,
    recipients_of: RecipientsOf,
    thread_id: int,
    user_id: int,
    text: str,
    now: datetime,
) -> FollowUp | None:
    """None: not this person's thread (or deleted meanwhile)."""
    thread = get_thread(session, thread_id)
    if thread is None or thread.user_id != user_id:
        return None
    if blocked_since(session, user_id) is not None:
        return FollowUp(thread, blocked=True)
    recipients = tuple(recipients_of(session))
    add_follow_up(session, thread.id, text, now, recipients)
    return FollowUp(thread, recipients)


def open_page(session: Session, page: int, size: int) -> tuple[int, ThreadPage]:
    """A page of /vragen; the first one when that page has emptied meanwhile."""
    found = open_threads(session, page * size, size)
    if not found.threads and page > 0:
        return 0, open_threads(session, 0, size)
    return page, found


def thread_with_messages(
    session: Session, thread_id: int
) -> tuple[ThreadInfo, list[MessageInfo]] | None:
    thread = get_thread(session, thread_id)
    messages = thread_messages(session, thread_id) if thread is not None else []
    return (thread, messages) if thread is not None and messages else None


class CloseWith(StrEnum):
    """How an organiser closes a thread the person can still be told about."""

    STANDARD = "standard"  # the standard closing line goes to the person
    TYPED = "type"  # a line the organiser types next (a reply to the prompt)
    QUIET = "quiet"  # no word to the person


@dataclass(frozen=True)
class Closed:
    thread: ThreadInfo
    line: str  # the standard closing line, in the person's language
    # TYPED: the person's latest message, which the organiser's line will answer.
    latest_in: MessageInfo | None = None


def finish_thread(
    session: Session,
    *,
    thread_id: int,
    how: CloseWith,
    line_of: Callable[[ThreadInfo], str],
    author_id: int,
    now: datetime,
) -> Closed | None:
    """None: the thread was deleted meanwhile. A standard line is an answer: stored and
    owed to the person in the transaction that closes the thread."""
    thread = get_thread(session, thread_id)
    if thread is None:
        return None
    line = line_of(thread)
    if how is CloseWith.STANDARD:
        add_answer(session, thread_id, line, author_id, now)
        return Closed(thread, line)
    if how is CloseWith.QUIET:
        mark_answered(session, thread_id, now)
        return Closed(thread, line)
    incoming = [m for m in thread_messages(session, thread_id) if m.direction is Direction.IN]
    return Closed(thread, line, incoming[-1] if incoming else None)
