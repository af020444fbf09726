"""Users: who talked to the bot, their language and their choices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import User


@dataclass(frozen=True)
class UserInfo:
    telegram_id: int
    language: str | None
    first_seen: datetime
    last_seen: datetime
    reminders_enabled: bool
    announcements_opt_out: bool
    blocked: bool


def _info(user: User) -> UserInfo:
    return UserInfo(
        telegram_id=user.telegram_id,
        language=user.language,
        first_seen=user.first_seen,
        last_seen=user.last_seen,
        reminders_enabled=user.reminders_enabled,
        announcements_opt_out=user.announcements_opt_out,
        blocked=user.blocked,
    )


def _row(session: Session, telegram_id: int) -> User | None:
    return session.scalars(select(User).where(User.telegram_id == telegram_id)).one_or_none()


def get_user(session: Session, telegram_id: int) -> UserInfo | None:
    user = _row(session, telegram_id)
    return _info(user) if user else None


def touch_user(session: Session, telegram_id: int, now: datetime) -> UserInfo:
    """Record that the user is here (creating them on first contact)."""
    user = _row(session, telegram_id)
    if user is None:
        user = User(
            telegram_id=telegram_id,
            first_seen=now,
            last_seen=now,
            reminders_enabled=True,
            announcements_opt_out=False,
            blocked=False,
        )
        session.add(user)
    else:
        user.last_seen = now
        user.blocked = False
    session.flush()
    return _info(user)


def set_language(session: Session, telegram_id: int, language: str, now: datetime) -> None:
    touch_user(session, telegram_id, now)
    user = _row(session, telegram_id)
    assert user is not None
    user.language = language


def set_flags(
    session: Session,
    telegram_id: int,
    *,
    reminders_enabled: bool | None = None,
    announcements_opt_out: bool | None = None,
    blocked: bool | None = None,
) -> None:
    user = _row(session, telegram_id)
    if user is None:
        return
    if reminders_enabled is not None:
        user.reminders_enabled = reminders_enabled
    if announcements_opt_out is not None:
        user.announcements_opt_out = announcements_opt_out
    if blocked is not None:
        user.blocked = blocked


def delete_user(session: Session, telegram_id: int) -> bool:
    result = session.execute(delete(User).where(User.telegram_id == telegram_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]
