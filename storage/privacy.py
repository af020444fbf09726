"""Erasure of everything the bot keeps about one person (GDPR article 17), and retention."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from storage.faq_additions import erase_additions
from storage.faq_misses import delete_questions, purge_misses
from storage.feedback import erase_feedback, purge_old_feedback
from storage.inbox import erase_threads, owe_copy_erasure, texts_of_user, thread_ids_of
from storage.models import (
    Activity,
    Broadcast,
    ConversationState,
    InboxMessage,
    OutboxMessage,
    UserData,
)
from storage.registrations import erase_registrations, purge_old_registrations
from storage.users import delete_user


@dataclass(frozen=True)
class Erasure:
    """What /vergeetmij took besides the person's own rows."""

    faq_additions: int  # phrasings in their words, gone from the FAQ
    copies: int  # copies in organisers' chats, owed a deletion


def erase_user(
    session: Session, telegram_id: int, now: datetime, join_link_before: timedelta | None = None
) -> Erasure:
    """Everything about one person. Deleted rows can still be read from the database file
    until SQLite overwrites them: Database.session runs with secure_delete, and the caller
    checkpoints the write-ahead log afterwards (Database.checkpoint)."""
    # Seats the user held go to the next person waiting before their rows disappear (with
    # the meeting link of an online activity owed `join_link_before` its start).
    erase_registrations(session, telegram_id, now, join_link_before)
    session.execute(delete(UserData).where(UserData.user_id == telegram_id))
    erase_feedback(session, telegram_id)
    # Their words as a FAQ phrasing, and the same words kept (without who asked) as a
    # question the FAQ missed: they were handed over, so they are known to be theirs.
    additions = erase_additions(session, telegram_id)
    delete_questions(session, texts_of_user(session, telegram_id))
    # Conversations with the programme office, with every copy still owed or sent (also
    # those owed to the organisers' chat); the copies already there are owed a deletion.
    thread_ids = thread_ids_of(session, telegram_id)
    copies = owe_copy_erasure(session, thread_ids, now)
    erase_threads(session, thread_ids)
    # An organiser's traces in what others keep: their id goes, the thing stays.
    session.execute(
        update(InboxMessage).where(InboxMessage.author_id == telegram_id).values(author_id=None),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        update(Activity).where(Activity.created_by == telegram_id).values(created_by=None),
        execution_options={"synchronize_session": False},
    )
    session.execute(delete(OutboxMessage).where(OutboxMessage.user_id == telegram_id))
    session.execute(
        delete(ConversationState).where(
            ConversationState.key == json.dumps([telegram_id, telegram_id])
        )
    )
    delete_user(session, telegram_id)
    return Erasure(additions, copies)


def apply_retention(
    session: Session, now: datetime, keep_registrations: timedelta, keep_misses: timedelta
) -> tuple[int, int]:
    # Who received an announcement matters only while it is being sent; keep the
    # broadcast itself (organiser, text, time), drop its recipient list with registrations.
    finished = select(Broadcast.id).where(Broadcast.finished_at < now - keep_registrations)
    session.execute(delete(OutboxMessage).where(OutboxMessage.broadcast_id.in_(finished)))
    # Feedback answers name who gave them: they go with the activity's registrations.
    purge_old_feedback(session, keep_registrations, now)
    return (
        purge_old_registrations(session, keep_registrations, now),
        purge_misses(session, keep_misses, now),
    )
