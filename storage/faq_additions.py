"""Organisers' additions to the FAQ ("Voeg toe aan FAQ"): a user's question stored as one more
phrasing of the entry an organiser picked. A question from someone's inbox thread remembers
whose words it is (`source_user_id`) and is deleted with them (/vergeetmij); one from
/faqgaps (misses are stored without who asked) names nobody.

Every instance reads them from here (core/faq_live.py), so an addition takes effect
everywhere without a restart; `mao-bot faq export` writes them out for faq/content.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from storage.db import dialect_insert
from storage.models import FaqAddition, InboxMessage, InboxThread

# The column's width; the matcher reads no further than this either.
MAX_QUESTION_LENGTH = 500


@dataclass(frozen=True)
class Addition:
    id: int
    entry_id: str
    language: str
    question: str
    added_by: int | None
    added_at: datetime
    source_user_id: int | None = None
    source_thread_id: int | None = None


@dataclass(frozen=True)
class AdditionsVersion:
    """Changes whenever an addition is made, moved to another entry or erased: a cheap look
    at the whole table. Ids are never handed out twice (AUTOINCREMENT on SQLite, a sequence
    on PostgreSQL), so no other set of additions has the same count and highest id."""

    count: int
    last_id: int


NO_ADDITIONS = AdditionsVersion(0, 0)


def tidy_question(question: str) -> str:
    """One line, single spaces, at most the column's width."""
    return " ".join(question.split())[:MAX_QUESTION_LENGTH].strip()


def additions_version(session: Session) -> AdditionsVersion:
    count, last_id = session.execute(
        select(func.count(FaqAddition.id), func.coalesce(func.max(FaqAddition.id), 0))
    ).one()
    return AdditionsVersion(int(count), int(last_id))


def all_additions(session: Session) -> list[Addition]:
    rows = session.scalars(select(FaqAddition).order_by(FaqAddition.id))
    return [_addition(r) for r in rows]


def _addition(row: FaqAddition) -> Addition:
    return Addition(
        row.id,
        row.entry_id,
        row.language,
        row.question,
        row.added_by,
        row.added_at,
        row.source_user_id,
        row.source_thread_id,
    )


def additions_about(session: Session, user_id: int) -> list[Addition]:
    """/mijngegevens: additions in this person's words, and those they added as organiser."""
    rows = session.scalars(
        select(FaqAddition)
        .where(or_(FaqAddition.source_user_id == user_id, FaqAddition.added_by == user_id))
        .order_by(FaqAddition.id)
    )
    return [_addition(r) for r in rows]


def erase_additions(session: Session, user_id: int) -> int:
    """/vergeetmij: additions in this person's words go; those they added as organiser stay
    without their id. Returns how many went."""
    result = session.execute(
        delete(FaqAddition).where(FaqAddition.source_user_id == user_id),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        update(FaqAddition).where(FaqAddition.added_by == user_id).values(added_by=None),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def add_addition(
    session: Session,
    entry_id: str,
    language: str,
    question: str,
    added_by: int | None,
    at: datetime,
    *,
    source_user_id: int | None = None,
    source_thread_id: int | None = None,
) -> bool:
    """Store `question` as a phrasing of `entry_id`; False when it was one already.
    `source_user_id`: whose own words these are (None: nobody's, e.g. from /faqgaps).

    The latest choice wins: the same question stored earlier under another entry (an
    organiser correcting a mistake) is removed, so one question never points two ways."""
    text = tidy_question(question)
    insert = dialect_insert(session)
    # Two organisers (or two instances) adding the same at once: the database keeps one.
    statement = (
        insert(FaqAddition)
        .values(
            entry_id=entry_id,
            language=language,
            question=text,
            added_by=added_by,
            added_at=at,
            source_user_id=source_user_id,
            source_thread_id=source_thread_id,
        )
        .on_conflict_do_nothing(index_elements=["entry_id", "language", "question"])
    )
    added = bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]
    # Removed only after the new row is written: SQLite hands out the highest id again once
    # its row is gone, and `additions_version` must change.
    session.execute(
        delete(FaqAddition).where(
            and_(
                FaqAddition.language == language,
                FaqAddition.question == text,
                FaqAddition.entry_id != entry_id,
            )
        )
    )
    return added


@dataclass(frozen=True)
class ThreadQuestion:
    question: str
    language: str
    user_id: int | None  # who asked (None: an anonymous thread)
    message_id: int  # the inbox message it is


def thread_question(session: Session, thread_id: int) -> ThreadQuestion | None:
    """The first message a user wrote in an inbox thread (what they asked), if any."""
    thread = session.get(InboxThread, thread_id)
    if thread is None:
        return None
    first = session.execute(
        select(InboxMessage.id, InboxMessage.text)
        .where(InboxMessage.thread_id == thread_id, InboxMessage.direction == "in")
        .order_by(InboxMessage.created_at, InboxMessage.id)
        .limit(1)
    ).first()
    if first is None or not first.text.strip():
        return None
    return ThreadQuestion(first.text, thread.language, thread.user_id, first.id)
