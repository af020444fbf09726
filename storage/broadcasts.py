"""Broadcast bookkeeping: the audience, one delivery row per recipient, and progress.

A delivery is claimed (pending -> sending) before its message goes out and marked after,
so a crash leaves at most the one in-flight message unconfirmed. On restart such rows are
sent again: at most one duplicate per crash, never a gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from storage.models import Broadcast, Delivery, Profile, Registration, User
from storage.vocabulary import Recipients, RegistrationStatus, Role


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


@dataclass(frozen=True)
class Counts:
    total: int
    sent: int
    blocked: int
    failed: int

    @property
    def done(self) -> int:
        return self.sent + self.blocked + self.failed


def audience_user_ids(
    session: Session, audience: Recipients, activity_id: int | None
) -> list[int]:
    """Who would receive it. Blocked users are skipped; opted-out ones for general news.

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
        query = reachable.where(
            User.telegram_id.in_(
                select(Registration.user_id).where(
                    Registration.activity_id == activity_id, Registration.status.in_(statuses)
                )
            )
        )
    return list(session.scalars(query.order_by(User.telegram_id)))


def create_broadcast(
    session: Session,
    created_by: int,
    audience: Recipients,
    activity_id: int | None,
    text: str,
    now: datetime,
) -> int:
    broadcast = Broadcast(
        created_by=created_by,
        audience=audience.value,
        activity_id=activity_id,
        text=text,
        status="sending",
        created_at=now,
    )
    session.add(broadcast)
    session.flush()
    recipients = audience_user_ids(session, audience, activity_id)
    if recipients:
        session.execute(
            insert(Delivery),
            [
                {"broadcast_id": broadcast.id, "user_id": uid, "status": "pending"}
                for uid in recipients
            ],
        )
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
    )


def set_status_message(session: Session, broadcast_id: int, chat_id: int, message_id: int) -> None:
    session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast_id)
        .values(status_chat_id=chat_id, status_message_id=message_id)
    )


def unfinished_broadcasts(session: Session) -> list[int]:
    return list(session.scalars(select(Broadcast.id).where(Broadcast.status == "sending")))


def take_over(
    session: Session, broadcast_id: int, sender: str, now: datetime, lease: timedelta
) -> int | None:
    """Become the broadcast's one sender, if nobody holds it or the holder's lease ran out
    (it crashed). Returns how many deliveries were put back in the queue (the messages that
    were in flight at the crash), or None when another live instance is sending it."""
    taken = session.execute(
        update(Broadcast)
        .where(
            Broadcast.id == broadcast_id,
            Broadcast.status == "sending",
            or_(
                Broadcast.lease_until.is_(None),
                Broadcast.lease_until < now,
                Broadcast.sender == sender,
            ),
        )
        .values(sender=sender, lease_until=now + lease)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return release_interrupted(session, broadcast_id)


_RENEW = (
    update(Broadcast.__table__)  # type: ignore[arg-type]
    .where(
        Broadcast.__table__.c.id == bindparam("of_broadcast"),
        Broadcast.__table__.c.sender == bindparam("by_sender"),
    )
    .values(lease_until=bindparam("until"))
)


def renew_lease(
    session: Session, broadcast_id: int, sender: str, now: datetime, lease: timedelta
) -> bool:
    """Keep sending rights; False when another instance has taken the broadcast over."""
    values = {"of_broadcast": broadcast_id, "by_sender": sender, "until": now + lease}
    return bool(session.connection().execute(_RENEW, values).rowcount)


def release_interrupted(session: Session, broadcast_id: int) -> int:
    """Deliveries caught mid-send by a crash go back in the queue (the one duplicate risk)."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.broadcast_id == broadcast_id, Delivery.status == "sending")
        .values(status="pending")
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# Built once: these run once per message of a broadcast, so they skip the ORM layer.
_NEXT_PENDING = (
    select(Delivery.id)
    .where(Delivery.broadcast_id == bindparam("of_broadcast"), Delivery.status == "pending")
    .order_by(Delivery.id)
    .limit(1)
    .with_for_update(skip_locked=True)
    .scalar_subquery()
)
_CLAIM = (
    update(Delivery.__table__)  # type: ignore[arg-type]
    .where(Delivery.__table__.c.id == _NEXT_PENDING)
    .values(status="sending", updated_at=bindparam("at"))
    .returning(Delivery.__table__.c.id, Delivery.__table__.c.user_id)
)
_MARK = (
    update(Delivery.__table__)  # type: ignore[arg-type]
    .where(Delivery.__table__.c.id == bindparam("delivery_id"))
    .values(status=bindparam("new_status"), updated_at=bindparam("at"))
)


def claim_next(
    session: Session, broadcast_id: int, now: datetime, finished: tuple[int, str] | None = None
) -> tuple[int, int] | None:
    """Record the delivery just finished, if any, and take the next pending one for sending.

    Both happen in the caller's one transaction: one commit per message. The claim is one
    UPDATE ... RETURNING (SQLite 3.35+, PostgreSQL).
    """
    connection = session.connection()
    if finished is not None:
        connection.execute(
            _MARK, {"delivery_id": finished[0], "new_status": finished[1], "at": now}
        )
    row = connection.execute(_CLAIM, {"of_broadcast": broadcast_id, "at": now}).first()
    return None if row is None else (row[0], row[1])


def mark_delivery(session: Session, delivery_id: int, status: str, now: datetime) -> None:
    session.connection().execute(
        _MARK, {"delivery_id": delivery_id, "new_status": status, "at": now}
    )


def counts(session: Session, broadcast_id: int) -> Counts:
    rows = dict(
        session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.broadcast_id == broadcast_id)
            .group_by(Delivery.status)
        ).all()
    )
    return Counts(
        total=sum(rows.values()),
        sent=rows.get("sent", 0),
        blocked=rows.get("blocked", 0),
        failed=rows.get("failed", 0),
    )


def finish_broadcast(session: Session, broadcast_id: int, now: datetime) -> None:
    session.execute(
        update(Broadcast)
        .where(Broadcast.id == broadcast_id)
        .values(status="done", finished_at=now)
    )
