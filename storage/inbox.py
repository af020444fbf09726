"""The inbox: conversations between one person and the programme office.

A thread starts with a question the FAQ could not answer, a story from practice or a
reported bottleneck. Each message of it is copied to the organisers (their group, or each
organiser privately) through the delivery outbox, written in the same transaction as the
message; an organiser answers by replying to a copy, and the answer is relayed to the
person through the outbox too. Where a copy landed (chat and message id) is recorded once
it is sent, so that a reply to it finds its thread.

Threads are personal data: /mijngegevens shows them, /vergeetmij deletes them (with every
copy still owed), and they are deleted `inbox.retention` after their last message. An
anonymous story or bottleneck has no user id and no name: nobody can answer or trace it.

Outbox rows of the inbox carry {"message": <inbox message id>} as payload; once sent, the
copy's message id is added ({"message": 5, "copy": 1234}), which is how a reply to any of
several organisers' private copies finds its thread.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from storage.models import InboxMessage, InboxThread, OutboxMessage
from storage.outbox import OutboxKind, OutboxStatus, owe

INBOX_KINDS = (
    OutboxKind.INBOX_TO_ORGANISERS,
    OutboxKind.INBOX_TO_USER,
    OutboxKind.INBOX_UNDELIVERED,
    OutboxKind.INBOX_SHOWN,
)
MAX_TEXT = 3000  # characters of one message: with the header it fits one Telegram message


class ThreadKind(StrEnum):
    QUESTION = "question"  # handed over when the FAQ could not answer
    STORY = "story"  # /deelverhaal: a story from practice
    BOTTLENECK = "bottleneck"  # /knelpunt: something in the system that gets in the way


class ThreadStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"


class Direction(StrEnum):
    IN = "in"  # from the person
    OUT = "out"  # an organiser's answer


@dataclass(frozen=True)
class ThreadInfo:
    id: int
    user_id: int | None
    first_name: str | None
    language: str
    kind: ThreadKind
    status: ThreadStatus
    guesses: tuple[str, ...]
    created_at: datetime
    updated_at: datetime

    @property
    def anonymous(self) -> bool:
        return self.user_id is None


@dataclass(frozen=True)
class MessageInfo:
    id: int
    thread_id: int
    direction: Direction
    text: str
    author_id: int | None
    created_at: datetime
    user_message_id: int | None


@dataclass(frozen=True)
class ThreadPage:
    threads: tuple[tuple[ThreadInfo, MessageInfo], ...]  # each with its first message
    total: int


def _thread_info(row: InboxThread) -> ThreadInfo:
    guesses: list[str] = json.loads(row.guesses) if row.guesses else []
    return ThreadInfo(
        id=row.id,
        user_id=row.user_id,
        first_name=row.first_name,
        language=row.language,
        kind=ThreadKind(row.kind),
        status=ThreadStatus(row.status),
        guesses=tuple(str(g) for g in guesses),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _message_info(row: InboxMessage) -> MessageInfo:
    return MessageInfo(
        id=row.id,
        thread_id=row.thread_id,
        direction=Direction(row.direction),
        text=row.text,
        author_id=row.author_id,
        created_at=row.created_at,
        user_message_id=row.user_message_id,
    )


def _copy_key(message_id: int, chat_id: int) -> str:
    return f"inbox:{message_id}:{chat_id}"


def owe_copies(
    session: Session, message_id: int, recipients: Sequence[int], now: datetime
) -> None:
    """One copy per organisers' chat; owing the same copy twice keeps one (dedupe key)."""
    for chat_id in dict.fromkeys(recipients):
        owe(
            session,
            chat_id,
            OutboxKind.INBOX_TO_ORGANISERS,
            now,
            payload={"message": message_id},
            dedupe_key=_copy_key(message_id, chat_id),
        )


def _add_message(
    session: Session,
    thread_id: int,
    direction: Direction,
    text: str,
    now: datetime,
    author_id: int | None = None,
) -> int:
    message = InboxMessage(
        thread_id=thread_id,
        direction=direction.value,
        text=text[:MAX_TEXT],
        author_id=author_id,
        created_at=now,
    )
    session.add(message)
    session.flush()
    return message.id


def start_thread(
    session: Session,
    *,
    user_id: int | None,
    first_name: str | None,
    language: str,
    kind: ThreadKind,
    text: str,
    guesses: Sequence[str],
    now: datetime,
    recipients: Sequence[int],
) -> int:
    """A new thread with its first message, and its copies owed to the organisers."""
    thread = InboxThread(
        user_id=user_id,
        first_name=first_name[:100] if first_name else None,
        language=language,
        kind=kind.value,
        status=ThreadStatus.OPEN.value,
        guesses=json.dumps(list(guesses)) if guesses else None,
        created_at=now,
        updated_at=now,
    )
    session.add(thread)
    session.flush()
    message_id = _add_message(session, thread.id, Direction.IN, text, now)
    owe_copies(session, message_id, recipients, now)
    return thread.id


def add_follow_up(
    session: Session, thread_id: int, text: str, now: datetime, recipients: Sequence[int]
) -> int | None:
    """The person answered back: the thread is open again, and the organisers get a copy."""
    thread = session.get(InboxThread, thread_id)
    if thread is None:
        return None
    thread.status = ThreadStatus.OPEN.value
    thread.updated_at = now
    message_id = _add_message(session, thread_id, Direction.IN, text, now)
    owe_copies(session, message_id, recipients, now)
    return message_id


def add_answer(
    session: Session, thread_id: int, text: str, author_id: int, now: datetime
) -> int | None:
    """An organiser's answer, owed to the person; the thread counts as answered. None for an
    anonymous thread (or one deleted meanwhile): there is nobody to answer."""
    thread = session.get(InboxThread, thread_id)
    if thread is None or thread.user_id is None:
        return None
    thread.status = ThreadStatus.ANSWERED.value
    thread.updated_at = now
    message_id = _add_message(session, thread_id, Direction.OUT, text, now, author_id)
    owe(
        session,
        thread.user_id,
        OutboxKind.INBOX_TO_USER,
        now,
        payload={"message": message_id},
        dedupe_key=f"inbox:{message_id}:user",
    )
    return message_id


def owe_undelivered(
    session: Session, answer_id: int, now: datetime, chat_id: int | None = None
) -> bool:
    """The person blocked the bot: the organiser who answered is told (once), or, when that
    failed too, the organisers' chat `chat_id`."""
    answer = session.get(InboxMessage, answer_id)
    recipient = chat_id if chat_id is not None else answer.author_id if answer else None
    if answer is None or recipient is None:
        return False
    owe(
        session,
        recipient,
        OutboxKind.INBOX_UNDELIVERED,
        now,
        payload={"message": answer_id},
        dedupe_key=f"inbox:{answer_id}:undelivered:{recipient}",
    )
    return True


def mark_answered(session: Session, thread_id: int, now: datetime) -> ThreadInfo | None:
    """ "Afgehandeld": no longer listed as open (its last activity stays what it was)."""
    thread = session.get(InboxThread, thread_id)
    if thread is None:
        return None
    thread.status = ThreadStatus.ANSWERED.value
    session.flush()
    return _thread_info(thread)


# -- reading -----------------------------------------------------------------------------------


def get_thread(session: Session, thread_id: int) -> ThreadInfo | None:
    row = session.get(InboxThread, thread_id)
    return _thread_info(row) if row is not None else None


def get_message(session: Session, message_id: int) -> MessageInfo | None:
    row = session.get(InboxMessage, message_id)
    return _message_info(row) if row is not None else None


def thread_messages(session: Session, thread_id: int) -> list[MessageInfo]:
    rows = session.scalars(
        select(InboxMessage)
        .where(InboxMessage.thread_id == thread_id)
        .order_by(InboxMessage.created_at, InboxMessage.id)
    )
    return [_message_info(row) for row in rows]


def open_threads(session: Session, offset: int, limit: int) -> ThreadPage:
    """Open threads, the most recent activity first, each with its first message."""
    total = int(
        session.scalar(
            select(func.count())
            .select_from(InboxThread)
            .where(InboxThread.status == ThreadStatus.OPEN.value)
        )
        or 0
    )
    threads = session.scalars(
        select(InboxThread)
        .where(InboxThread.status == ThreadStatus.OPEN.value)
        .order_by(InboxThread.updated_at.desc(), InboxThread.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    page: list[tuple[ThreadInfo, MessageInfo]] = []
    for thread in threads:
        first = session.scalars(
            select(InboxMessage)
            .where(InboxMessage.thread_id == thread.id)
            .order_by(InboxMessage.id)
            .limit(1)
        ).first()
        if first is not None:
            page.append((_thread_info(thread), _message_info(first)))
    return ThreadPage(tuple(page), total)


def threads_of_user(
    session: Session, user_id: int
) -> list[tuple[ThreadInfo, tuple[MessageInfo, ...]]]:
    threads = session.scalars(
        select(InboxThread).where(InboxThread.user_id == user_id).order_by(InboxThread.id)
    ).all()
    return [(_thread_info(t), tuple(thread_messages(session, t.id))) for t in threads]


# -- where copies landed ----------------------------------------------------------------------


def record_copy(
    session: Session,
    outbox_id: int,
    kind: OutboxKind,
    inbox_message_id: int,
    chat_id: int,
    sent_message_id: int,
) -> None:
    """A copy was delivered (called by the outbox after Telegram confirmed it)."""
    message = session.get(InboxMessage, inbox_message_id)
    if message is None:
        return
    if kind is OutboxKind.INBOX_TO_USER:
        message.user_chat_id = chat_id
        message.user_message_id = sent_message_id
    elif kind is OutboxKind.INBOX_UNDELIVERED:
        # It names the person: found and deleted with them (owe_copy_erasure).
        _note_copy(session, outbox_id, inbox_message_id, sent_message_id)
    elif kind is OutboxKind.INBOX_TO_ORGANISERS:
        if message.organiser_chat_id is None:
            message.organiser_chat_id = chat_id
            message.organiser_message_id = sent_message_id
        _note_copy(session, outbox_id, inbox_message_id, sent_message_id)


def _note_copy(session: Session, outbox_id: int, inbox_message_id: int, copy_id: int) -> None:
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id)
        .values(payload=json.dumps({"message": inbox_message_id, "copy": copy_id})),
        execution_options={"synchronize_session": False},
    )


def record_view(
    session: Session,
    chat_id: int,
    sent_message_id: int,
    inbox_message_id: int,
    now: datetime,
    kind: OutboxKind = OutboxKind.INBOX_TO_ORGANISERS,
) -> None:
    """A thread shown to an organiser (/vragen): a reply to it answers the thread too. Kept as
    a sent copy, so it is found, erased and expired like every other copy. With kind
    INBOX_SHOWN (the FAQ topic picker) it is only erased and expired, never answered."""
    session.add(
        OutboxMessage(
            user_id=chat_id,
            kind=kind.value,
            status=OutboxStatus.SENT.value,
            priority=0,
            due_at=now,
            deadline=now,
            attempts=1,
            payload=json.dumps({"message": inbox_message_id, "copy": sent_message_id}),
            created_at=now,
            updated_at=now,
            sent_at=now,
        )
    )


def find_organiser_copy(session: Session, chat_id: int, message_id: int) -> MessageInfo | None:
    """The message of which (chat_id, message_id) is an organisers' copy, if it is one."""
    row = session.scalars(
        select(InboxMessage).where(
            InboxMessage.organiser_chat_id == chat_id,
            InboxMessage.organiser_message_id == message_id,
        )
    ).first()
    if row is not None:
        return _message_info(row)
    payload = session.scalars(
        select(OutboxMessage.payload).where(
            OutboxMessage.user_id == chat_id,
            OutboxMessage.kind == OutboxKind.INBOX_TO_ORGANISERS.value,
            OutboxMessage.payload.like(f'%"copy": {int(message_id)}}}'),
        )
    ).first()
    if payload is None:
        return None
    return get_message(session, int(json.loads(payload)["message"]))


def find_user_copy(session: Session, chat_id: int, message_id: int) -> MessageInfo | None:
    """The answer of which (chat_id, message_id) is the person's copy, if it is one."""
    row = session.scalars(
        select(InboxMessage).where(
            InboxMessage.user_chat_id == chat_id, InboxMessage.user_message_id == message_id
        )
    ).first()
    return _message_info(row) if row is not None else None


# -- erasure and retention --------------------------------------------------------------------


def _delete_threads(session: Session, thread_ids: Sequence[int]) -> int:
    """Threads, their messages, and every outbox row about them (copies owed or sent)."""
    if not thread_ids:
        return 0
    message_ids = list(
        session.scalars(select(InboxMessage.id).where(InboxMessage.thread_id.in_(thread_ids)))
    )
    kinds = [k.value for k in INBOX_KINDS]
    for start in range(0, len(message_ids), 200):
        chunk = message_ids[start : start + 200]
        about = or_(
            *(
                or_(
                    OutboxMessage.payload == json.dumps({"message": m}),
                    OutboxMessage.payload.like(f'{{"message": {m}, %'),
                )
                for m in chunk
            )
        )
        session.execute(
            delete(OutboxMessage).where(OutboxMessage.kind.in_(kinds), about),
            execution_options={"synchronize_session": False},
        )
    session.execute(
        delete(InboxMessage).where(InboxMessage.thread_id.in_(thread_ids)),
        execution_options={"synchronize_session": False},
    )
    result = session.execute(
        delete(InboxThread).where(InboxThread.id.in_(thread_ids)),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def _delivered_copies(session: Session, thread_ids: Sequence[int]) -> set[tuple[int, int]]:
    """(chat, message id) of every copy of these threads the bot put in an organiser's chat:
    the first copy of each message, each organiser's private copy, the threads shown with
    /vragen, the FAQ topic pickers that quote them, and the notes that an answer did not
    arrive."""
    found: set[tuple[int, int]] = set()
    message_ids = list(
        session.scalars(select(InboxMessage.id).where(InboxMessage.thread_id.in_(thread_ids)))
    )
    for chat_id, copy_id in session.execute(
        select(InboxMessage.organiser_chat_id, InboxMessage.organiser_message_id).where(
            InboxMessage.thread_id.in_(thread_ids),
            InboxMessage.organiser_message_id.is_not(None),
        )
    ):
        if chat_id is not None and copy_id is not None:
            found.add((int(chat_id), int(copy_id)))
    kinds = [
        OutboxKind.INBOX_TO_ORGANISERS.value,
        OutboxKind.INBOX_UNDELIVERED.value,
        OutboxKind.INBOX_SHOWN.value,
    ]
    for start in range(0, len(message_ids), 200):
        chunk = message_ids[start : start + 200]
        about = or_(*(OutboxMessage.payload.like(f'{{"message": {m}, "copy": %') for m in chunk))
        rows = session.execute(
            select(OutboxMessage.user_id, OutboxMessage.payload).where(
                OutboxMessage.kind.in_(kinds), about
            )
        )
        for chat_id, payload in rows:
            copy_id = json.loads(payload or "{}").get("copy")
            if isinstance(copy_id, int):
                found.add((int(chat_id), copy_id))
    return found


def owe_copy_erasure(session: Session, thread_ids: Sequence[int], now: datetime) -> int:
    """Owe the deletion of every copy of these threads in the organisers' chats, and one
    notice per chat that had any. Returns the number of copies."""
    copies = _delivered_copies(session, thread_ids) if thread_ids else set()
    per_chat: dict[int, int] = {}
    for chat_id, copy_id in sorted(copies):
        per_chat[chat_id] = per_chat.get(chat_id, 0) + 1
        owe(
            session,
            chat_id,
            OutboxKind.COPY_ERASED,
            now,
            payload={"copy": copy_id},
            dedupe_key=f"erase:{chat_id}:{copy_id}",
        )
    for chat_id, count in per_chat.items():
        owe(
            session,
            chat_id,
            OutboxKind.ERASURE_NOTICE,
            now,
            payload={"count": count},
        )
    return len(copies)


def thread_ids_of(session: Session, user_id: int) -> list[int]:
    return list(session.scalars(select(InboxThread.id).where(InboxThread.user_id == user_id)))


def erase_threads(session: Session, thread_ids: Sequence[int]) -> int:
    """/vergeetmij: the person's threads (thread_ids_of) and every copy of them owed or sent
    (the copies already in the organisers' chats are deleted there by owe_copy_erasure)."""
    return _delete_threads(session, thread_ids)


def texts_of_user(session: Session, user_id: int) -> list[str]:
    """What the person wrote in their threads (to find the same words kept elsewhere)."""
    return list(
        session.scalars(
            select(InboxMessage.text)
            .join(InboxThread, InboxThread.id == InboxMessage.thread_id)
            .where(InboxThread.user_id == user_id, InboxMessage.direction == Direction.IN.value)
        )
    )


def purge_old_threads(session: Session, keep: timedelta, now: datetime) -> int:
    """Retention: threads whose last message is older than `keep`."""
    ids = list(session.scalars(select(InboxThread.id).where(InboxThread.updated_at < now - keep)))
    return _delete_threads(session, ids)
