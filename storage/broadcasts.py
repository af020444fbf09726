"""Broadcast bookkeeping: the audience, one owed message per recipient, and the tally.

The messages themselves go through the delivery outbox (storage/outbox.py) like every
other message the bot owes, at the lowest priority.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import ColumnElement, Select, Table, func, insert, literal, select, update
from sqlalchemy.orm import Session

from storage.db import note_owed
from storage.models import Activity, Broadcast, OutboxMessage, Profile, Registration, User
from storage.outbox import (
    NIGHT_ALLOWED,
    OutboxKind,
    OutboxStatus,
    Tally,
    broadcast_tally,
    deadline_for,
    priority_of,
    retry_failed,
)
from storage.quiet_hours import QuietHours
from storage.vocabulary import (
    BroadcastStatus,
    CancelReason,
    Recipients,
    RegistrationStatus,
    Role,
    Status,
)

_OUTBOX = cast(Table, OutboxMessage.__table__)


@dataclass(frozen=True)
class BroadcastInfo:
    id: int
    created_by: int
    audience: str
    activity_id: int | None
    text: str
    status: str
    status_chat_id: int | None
    status_message_id: int | None
    text_en: str | None = None
    scheduled_for: datetime | None = None
    signup_activity_id: int | None = None


def _cancelled(session: Session, activity_id: int | None) -> bool:
    activity = session.get(Activity, activity_id) if activity_id is not None else None
    return activity is not None and activity.status == Status.CANCELLED


def audience_user_ids(
    session: Session, audience: Recipients, activity_id: int | None
) -> list[int]:
    """Who would receive it, by Telegram id."""
    return list(
        session.scalars(_audience(session, audience, activity_id).order_by(User.telegram_id))
    )


def recipient_count(session: Session, audience: Recipients, activity_id: int | None) -> int:
    """How many would receive it, counted by the database (95,000 at scale)."""
    counted = select(func.count()).select_from(
        _audience(session, audience, activity_id).subquery()
    )
    return int(session.scalar(counted) or 0)


def _audience(session: Session, audience: Recipients, activity_id: int | None) -> Select[int]:
    """Blocked users are skipped; opted-out ones for general news.

    Attendees and the waiting list of an activity get its practical news even if they
    opted out of general announcements: they signed up for that activity.
    """
    reachable = select(User.telegram_id).where(User.blocked.is_(False))
    if audience is Recipients.EVERYONE:
        query = reachable.where(User.announcements_opt_out.is_(False))
    elif audience in (Recipients.PARENTS, Recipients.PROFESSIONALS):
        role = Role.OUDER if audience is Recipients.PARENTS else Role.PROFESSIONAL
        query = reachable.where(
            User.announcements_opt_out.is_(False),
            User.telegram_id.in_(select(Profile.user_id).where(Profile.role == role)),
        )
    else:
        statuses = (
            (RegistrationStatus.REGISTERED,)
            if audience is Recipients.ATTENDEES
            else (RegistrationStatus.WAITING, RegistrationStatus.OFFERED)
        )
        involved: ColumnElement[bool] = Registration.status.in_(statuses)
        if audience is Recipients.ATTENDEES and _cancelled(session, activity_id):
            # The activity's cancellation ended their seats; they may still need its news
            # (a new date, a refund). Their former status is not kept: those who were
            # waiting hear it too.
            involved = Registration.cancel_reason == CancelReason.ACTIVITY
        query = reachable.where(
            User.telegram_id.in_(
                select(Registration.user_id).where(
                    Registration.activity_id == activity_id, involved
                )
            )
        )
    return query


def create_broadcast(
    session: Session,
    created_by: int,
    audience: Recipients,
    activity_id: int | None,
    text: str,
    now: datetime,
    *,
    text_en: str | None = None,
    scheduled_for: datetime | None = None,
    signup_activity_id: int | None = None,
    quiet: QuietHours | None = None,
    night_allowed: bool = False,
) -> int:
    """Owe the announcement to every recipient; scheduled ones fall due at `scheduled_for`.

    A moment in the `quiet` hours waits until they end, unless the organiser chose to send
    at night (`night_allowed`): then the messages are marked so that the sender does not
    hold them either."""
    broadcast = Broadcast(
        created_by=created_by,
        audience=audience.value,
        activity_id=activity_id,
        text=text,
        text_en=text_en,
        scheduled_for=scheduled_for,
        signup_activity_id=signup_activity_id,
        status=BroadcastStatus.SENDING,
        created_at=now,
    )
    due = scheduled_for if scheduled_for is not None and scheduled_for > now else now
    if quiet is not None and not night_allowed:
        due = quiet.release(due)
    payload = json.dumps({NIGHT_ALLOWED: True}) if night_allowed else None
    session.add(broadcast)
    session.flush()
    alike = {
        "kind": OutboxKind.BROADCAST.value,
        "status": OutboxStatus.PENDING.value,
        "priority": int(priority_of(OutboxKind.BROADCAST)),
        "due_at": due,
        "deadline": deadline_for(session, OutboxKind.BROADCAST, due),
        "attempts": 0,
        "broadcast_id": broadcast.id,
        "payload": payload,
        "created_at": now,
        "updated_at": now,
    }
    # One row per recipient written by the database itself (INSERT ... SELECT): 95,000 rows
    # at scale without a Python object, or a list of ids, for each.
    recipients = _audience(session, audience, activity_id).subquery()
    session.execute(
        insert(_OUTBOX).from_select(
            ["user_id", *alike],
            select(
                recipients.c.telegram_id,
                *(literal(value, _OUTBOX.c[name].type) for name, value in alike.items()),
            ).order_by(recipients.c.telegram_id),
        )
    )
    note_owed(session, (), many=True)  # the sender wakes on commit
    return broadcast.id


def get_broadcast(session: Session, broadcast_id: int) -> BroadcastInfo | None:
    b = session.get(Broadcast, broadcast_id)
    if b is None:
        return None
    return BroadcastInfo(
        b.id,
        b.created_by,
        b.audience,
        b.activity_id,
        b.text,
        b.status,
        b.status_chat_id,
        b.status_message_id,
        b.text_en,
        b.scheduled_for,
        b.signup_activity_id,
    )


def set_status_message(session: Session, broadcast_id: int, chat_id: int, message_id: int) -> None:
    session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast_id)
        .values(status_chat_id=chat_id, status_message_id=message_id)
    )


def unfinished_broadcasts(session: Session) -> list[int]:
    return list(
        session.scalars(select(Broadcast.id).where(Broadcast.status == BroadcastStatus.SENDING))
    )


def finish_if_done(session: Session, broadcast_id: int, now: datetime) -> Tally | None:
    """The final tally once no message of the broadcast is open any more (else None)."""
    result = broadcast_tally(session, broadcast_id)
    if result.open:
        return None
    finished = session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast_id, Broadcast.status == BroadcastStatus.SENDING)
        .values(status=BroadcastStatus.DONE, finished_at=now)
    )
    return result if finished.rowcount == 1 else None  # type: ignore[attr-defined]


def reopen_broadcast(session: Session, broadcast_id: int, now: datetime) -> int:
    """ "Send again to the failed ones": their messages are owed once more."""
    count = retry_failed(session, broadcast_id, now)
    if count:
        session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id)
            .values(status=BroadcastStatus.SENDING, finished_at=None)
        )
    return count
