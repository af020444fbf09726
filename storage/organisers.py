"""Organisers added from the command line (`mao-bot admin add`), next to config's `admins`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import Organiser


def add_organiser(session: Session, telegram_id: int, now: datetime, note: str = "") -> bool:
    """True when added, False when they were one already."""
    if session.get(Organiser, telegram_id) is not None:
        return False
    session.add(Organiser(telegram_id=telegram_id, added_at=now, note=note[:200] or None))
    return True


def remove_organiser(session: Session, telegram_id: int) -> bool:
    result = session.execute(delete(Organiser).where(Organiser.telegram_id == telegram_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def stored_organisers(session: Session) -> list[int]:
    return list(session.scalars(select(Organiser.telegram_id).order_by(Organiser.telegram_id)))


def is_stored_organiser(session: Session, telegram_id: int) -> bool:
    return session.get(Organiser, telegram_id) is not None
