"""People organisers blocked from the inbox (`mao-bot block ID`): their questions, stories,
bottlenecks and replies no longer reach the programme office. Everything else (the FAQ,
the agenda, sign-ups, reminders) keeps working for them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import BlockedUser


def block_user(session: Session, telegram_id: int, now: datetime) -> bool:
    """True when blocked now, False when they were blocked already."""
    if session.get(BlockedUser, telegram_id) is not None:
        return False
    session.add(BlockedUser(telegram_id=telegram_id, blocked_at=now))
    return True


def unblock_user(session: Session, telegram_id: int) -> bool:
    result = session.execute(delete(BlockedUser).where(BlockedUser.telegram_id == telegram_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def blocked_since(session: Session, telegram_id: int) -> datetime | None:
    row = session.get(BlockedUser, telegram_id)
    return row.blocked_at if row is not None else None


def blocked_users(session: Session) -> list[tuple[int, datetime]]:
    rows = session.execute(
        select(BlockedUser.telegram_id, BlockedUser.blocked_at).order_by(BlockedUser.blocked_at)
    ).all()
    return [(row[0], row[1]) for row in rows]
