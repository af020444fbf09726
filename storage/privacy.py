"""Erasure of everything the bot keeps about one person (GDPR article 17), and retention."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.faq_misses import purge_misses
from storage.feedback import erase_feedback, purge_old_feedback
from storage.inbox import erase_threads
from storage.models import Broadcast, ConversationState, OutboxMessage, UserData
from storage.registrations import erase_registrations, purge_old_registrations
from storage.users import delete_user


def erase_user(
    session: Session, telegram_id: int, now: datetime, join_link_before: timedelta | None = None
) -> None:
    # Seats the user held go to the next person waiting before their rows disappear (with
    # the meeting link of an online activity owed `join_link_before` its start).
    erase_registrations(session, telegram_id, now, join_link_before)
    session.execute(delete(UserData).where(UserData.user_id == telegram_id))
    erase_feedback(session, telegram_id)
    # Conversations with the programme office, with every copy still owed or sent (also
    # those owed to the organisers' chat).
    erase_threads(session, telegram_id)
    session.execute(delete(OutboxMessage).where(OutboxMessage.user_id == telegram_id))
    session.execute(
        delete(ConversationState).where(
            ConversationState.key == json.dumps([telegram_id, telegram_id])
        )
    )
    delete_user(session, telegram_id)


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
