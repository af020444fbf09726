"""The delivery outbox: every message the bot owes a user is a row, written with its cause.

A confirmation is written in the transaction that takes the seat, a reminder when the seat
is taken (due before the activity), a notice when a seat is freed or an activity moves, a
broadcast message per recipient when the organiser confirms. The sender (jobs/outbox.py)
claims rows one at a time with a lease, and marks each sent only after Telegram confirmed.
Network errors, 5xx and 429 are retried with backoff until the row's deadline; a timeout
whose outcome is unknown is "unconfirmed", never "failed"; a crash mid-send leaves a claim
whose lease runs out, after which it is sent again: at most as many duplicates per crash
as the sender had on their way (`broadcast.in_flight`, see jobs/outbox.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Interval,
    Table,
    and_,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from storage.db import dialect_insert, note_owed
from storage.durations import parse_duration
from storage.models import Activity, OutboxMessage, Registration
from storage.quiet_hours import QuietHours
from storage.vocabulary import RegistrationStatus

# How long a claimed message may stay "sending" before another sender takes it over.
DEFAULT_LEASE = timedelta(seconds=60)
# Messages without a natural deadline (an announcement, a cancellation) are tried this long
# (as their kinds declare: handlers/*_owed.py).
DEFAULT_TRY_FOR = timedelta(days=2)
DEFAULT_REMINDER_OFFSETS = (timedelta(days=2), timedelta(hours=2))
BACKOFF_FIRST = timedelta(seconds=5)
BACKOFF_MAX = timedelta(minutes=10)


class OutboxKind(StrEnum):
    CONFIRMATION = "confirmation"  # a seat is yours (after sign-up, promotion or claiming)
    PROMOTED = "promoted"  # moved up from the waiting list: the seat is yours
    CALENDAR = "calendar"  # the .ics file that goes with a confirmation or a move
    # METHOD:CANCEL for the event of a seat given up or of a cancelled activity (same UID,
    # higher SEQUENCE): the event leaves the person's calendar.
    CALENDAR_CANCEL = "calendar_cancel"
    WAITLISTED = "waitlisted"  # you are on the waiting list, place N
    OFFERED = "offered"  # a seat is held for you until a deadline
    OFFER_EXPIRED = "offer_expired"
    ACTIVITY_CANCELLED = "activity_cancelled"
    ACTIVITY_REOPENED = "activity_reopened"
    ACTIVITY_MOVED = "activity_moved"
    REMINDER = "reminder"
    JOIN_LINK = "join_link"  # the meeting link of an online activity, shortly before it starts
    BROADCAST = "broadcast"
    FEEDBACK_REQUEST = "feedback_request"  # stars and a comment, some time after the end
    # The inbox (storage/inbox.py): a user's message to the programme office, copied to the
    # organisers' chat; an organiser's answer relayed to the user; and a note to the organiser
    # when an answer could not be delivered. payload: {"message": <inbox message id>}.
    INBOX_TO_ORGANISERS = "inbox_to_organisers"
    INBOX_TO_USER = "inbox_to_user"
    INBOX_UNDELIVERED = "inbox_undelivered"
    # /vergeetmij: a copy the bot put in an organisers' chat is deleted (or, where Telegram
    # no longer allows that, edited to "[gewist op verzoek]"), and each such chat is told
    # once. payload: {"copy": <message id in that chat>} / {"count": <copies>}.
    COPY_ERASED = "copy_erased"
    ERASURE_NOTICE = "erasure_notice"
    # Never sent: a thread's words shown in an organisers' chat by a reply (the FAQ topic
    # picker), recorded as {"message", "copy"} so that /vergeetmij deletes it there too.
    INBOX_SHOWN = "inbox_shown"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    UNCONFIRMED = "unconfirmed"  # timed out: Telegram may or may not have delivered it
    BLOCKED = "blocked"  # the user blocked the bot
    FAILED = "failed"  # refused, or still failing at the deadline
    DROPPED = "dropped"  # no longer owed (cancelled seat, moved activity, reminders off)


OPEN = (OutboxStatus.PENDING, OutboxStatus.SENDING)


class Priority(IntEnum):
    """Lower first: a person waiting for an answer goes before a bulk announcement."""

    PERSONAL = 0
    NOTICE = 1
    REMINDER = 2
    BULK = 3


class Until(StrEnum):
    """What an owed message's deadline counts from."""

    DUE = "due"  # the moment it falls due (an announcement, a copy to the organisers)
    START = "start"  # the activity's start (a confirmation, a reminder)
    END = "end"  # the activity's end (a meeting link: someone joining late needs it most)
    OFFER_LAPSES = "offer_lapses"  # the offered seat's deadline


@dataclass(frozen=True)
class Deadline:
    """Until when an owed message is tried (retried after network errors, 5xx, 429)."""

    until: Until
    plus: timedelta = timedelta(0)


UNTIL_START = Deadline(Until.START)
UNTIL_END = Deadline(Until.END)
UNTIL_OFFER_LAPSES = Deadline(Until.OFFER_LAPSES)


def tried_for(duration: timedelta) -> Deadline:
    """Tried this long after it falls due."""
    return Deadline(Until.DUE, duration)


@dataclass(frozen=True)
class KindRule:
    priority: Priority
    deadline: Deadline


# Each kind's priority and deadline are declared by the feature that owes it
# (handlers/*_owed.py) and handed to storage at start (jobs/owed_kinds.py: register_kinds):
# storage writes them into every row it owes, and may not import the layers that declare them.
_RULES: dict[OutboxKind, KindRule] = {}


def declare_kind(kind: OutboxKind, priority: Priority, deadline: Deadline) -> None:
    _RULES[kind] = KindRule(priority, deadline)


def _rule(kind: OutboxKind) -> KindRule:
    try:
        return _RULES[kind]
    except KeyError:
        raise LookupError(
            f"No priority or deadline for {kind}: owed-message kinds are registered at start "
            "(bot.app.register_owed_kinds)"
        ) from None


def priority_of(kind: OutboxKind) -> Priority:
    return _rule(kind).priority


def deadline_for(
    session: Session,
    kind: OutboxKind,
    due: datetime,
    *,
    activity_id: int | None = None,
    registration_id: int | None = None,
) -> datetime:
    """The deadline the kind declares, for a message falling due at `due`. The activity and
    the seat are those of the caller's transaction (the session's own objects, changes not
    yet flushed included: a moved activity's new start)."""
    deadline = _rule(kind).deadline
    if deadline.until is Until.DUE:
        return due + deadline.plus
    if deadline.until is Until.OFFER_LAPSES:
        seat = session.get(Registration, registration_id) if registration_id else None
        if seat is None or seat.offer_expires_at is None:
            raise ValueError(f"{kind} is owed about an offered seat")
        return seat.offer_expires_at + deadline.plus
    activity = session.get(Activity, activity_id) if activity_id else None
    if activity is None:
        raise ValueError(f"{kind} is owed about an activity")
    moment = activity.starts_at if deadline.until is Until.START else activity.ends_at
    return moment + deadline.plus


@dataclass(frozen=True)
class OwedMessage:
    """A claimed row: what to send to whom, and about what."""

    id: int
    user_id: int
    kind: OutboxKind
    activity_id: int | None
    registration_id: int | None
    broadcast_id: int | None
    due_at: datetime
    deadline: datetime | None
    attempts: int
    payload: dict[str, Any]


def owe(
    session: Session,
    user_id: int,
    kind: OutboxKind,
    now: datetime,
    *,
    activity_id: int | None = None,
    registration_id: int | None = None,
    broadcast_id: int | None = None,
    due_at: datetime | None = None,
    offset_seconds: int | None = None,
    payload: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
    priority: Priority | None = None,
) -> None:
    """Record a message owed to a user, in the caller's transaction.

    With a `dedupe_key`, recording the same message twice (two instances planning at once)
    keeps one row: INSERT ... ON CONFLICT DO NOTHING. `priority` only for a message that
    must not go before another one of lower priority (a calendar file after its notice).
    The deadline is the one the kind declares (`deadline_for`)."""
    due = due_at or now
    values = {
        "user_id": user_id,
        "kind": kind.value,
        "status": OutboxStatus.PENDING.value,
        "priority": int(priority_of(kind) if priority is None else priority),
        "due_at": due,
        "deadline": deadline_for(
            session, kind, due, activity_id=activity_id, registration_id=registration_id
        ),
        "attempts": 0,
        "activity_id": activity_id,
        "registration_id": registration_id,
        "broadcast_id": broadcast_id,
        "offset_seconds": offset_seconds,
        "payload": json.dumps(payload) if payload else None,
        "dedupe_key": dedupe_key,
        "created_at": now,
        "updated_at": now,
    }
    insert = dialect_insert(session)
    statement = insert(OutboxMessage).values(**values)
    if dedupe_key is not None:
        statement = statement.on_conflict_do_nothing(index_elements=["dedupe_key"])
    session.execute(statement)
    note_owed(session, [user_id])


# -- calendar files: each after the message it belongs to --------------------------------------

# The messages a calendar file follows: the file is no use before the words that explain it.
CALENDAR_FILES = (OutboxKind.CALENDAR, OutboxKind.CALENDAR_CANCEL)
CALENDAR_LEADS = (
    OutboxKind.CONFIRMATION,
    OutboxKind.PROMOTED,
    OutboxKind.ACTIVITY_MOVED,
    OutboxKind.ACTIVITY_CANCELLED,
)


def lead_due_at(session: Session, message: OwedMessage) -> datetime | None:
    """When the message this calendar file follows is due, while it is still open (None:
    sent or given up, so the file may go). Its own place in the queue (priority, due time,
    id) already puts the file second; this holds when the leading message was retried."""
    if message.kind not in CALENDAR_FILES or message.registration_id is None:
        return None
    return session.scalar(
        select(func.min(OutboxMessage.due_at)).where(
            OutboxMessage.registration_id == message.registration_id,
            OutboxMessage.id < message.id,
            OutboxMessage.kind.in_([k.value for k in CALENDAR_LEADS]),
            OutboxMessage.status.in_([s.value for s in OPEN]),
        )
    )


def calendar_delivered(session: Session, registration_id: int) -> bool:
    """Whether this seat's event may be in the person's calendar (a file went out, or may
    have: unconfirmed), so that a cancellation has something to remove."""
    found = session.scalar(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.registration_id == registration_id,
            OutboxMessage.kind == OutboxKind.CALENDAR.value,
            OutboxMessage.status.in_([OutboxStatus.SENT.value, OutboxStatus.UNCONFIRMED.value]),
        )
        .limit(1)
    )
    return found is not None


def owe_calendar_cancel(
    session: Session,
    activity: Activity,
    registration: Registration,
    now: datetime,
    priority: Priority | None = None,
) -> bool:
    """The event of a seat that ended leaves the calendar it was sent to (nothing owed when
    no file went out, or the activity is over). True when owed."""
    if now >= activity.ends_at or not calendar_delivered(session, registration.id):
        return False
    owe(
        session,
        registration.user_id,
        OutboxKind.CALENDAR_CANCEL,
        now,
        activity_id=activity.id,
        registration_id=registration.id,
        priority=priority,
    )
    return True


# -- reminders: planned with the seat, moved with the activity --------------------------------


def reminder_offsets(activity: Activity) -> list[timedelta]:
    if activity.reminder_offsets is None:
        return list(DEFAULT_REMINDER_OFFSETS)
    return [timedelta(seconds=int(s)) for s in activity.reminder_offsets.split(",") if s]


def offsets_text(offsets: Sequence[str | timedelta]) -> str:
    """Stored as seconds ("172800,7200"); the empty text means: no reminders."""
    seconds = [
        int((parse_duration(o) if isinstance(o, str) else o).total_seconds()) for o in offsets
    ]
    return ",".join(str(s) for s in seconds)


def plan_reminders(
    session: Session,
    activity: Activity,
    registration: Registration,
    now: datetime,
    join_link_before: timedelta | None = None,
) -> None:
    """Owe the reminders of a seat just taken. A moment already past is not planned: the
    confirmation that comes with the seat is enough.

    An online activity's meeting link is owed `join_link_before` its start (None or zero:
    not sent); unlike a reminder it is still owed when that moment has passed, since it is
    needed to take part at all, and it may be sent until the activity ends."""
    if activity.online_url and join_link_before:
        seconds = int(join_link_before.total_seconds())
        due = max(activity.starts_at - join_link_before, now)
        owe(
            session,
            registration.user_id,
            OutboxKind.JOIN_LINK,
            now,
            activity_id=activity.id,
            registration_id=registration.id,
            due_at=due,
            offset_seconds=seconds,
            dedupe_key=(f"join:{registration.id}:{seconds}:{int(activity.starts_at.timestamp())}"),
        )
    for offset in reminder_offsets(activity):
        due = activity.starts_at - offset
        if due <= now:
            continue
        seconds = int(offset.total_seconds())
        owe(
            session,
            registration.user_id,
            OutboxKind.REMINDER,
            now,
            activity_id=activity.id,
            registration_id=registration.id,
            due_at=due,
            offset_seconds=seconds,
            dedupe_key=f"reminder:{registration.id}:{seconds}:{int(due.timestamp())}",
        )


def drop_open(
    session: Session,
    now: datetime,
    *,
    registration_id: int | None = None,
    activity_id: int | None = None,
    user_id: int | None = None,
    kinds: Sequence[OutboxKind] = (),
) -> int:
    """Messages no longer owed (the seat was given up, the activity cancelled) are dropped,
    unless a sender holds them right now.

    A dropped message gives up its dedupe key: planned again later (the same seat taken
    again, a reminder whose offset did not change), it is owed again, not a duplicate."""
    statement = update(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING)
    if registration_id is not None:
        statement = statement.where(OutboxMessage.registration_id == registration_id)
    if activity_id is not None:
        statement = statement.where(OutboxMessage.activity_id == activity_id)
    if user_id is not None:
        statement = statement.where(OutboxMessage.user_id == user_id)
    if kinds:
        statement = statement.where(OutboxMessage.kind.in_([k.value for k in kinds]))
    result = session.execute(
        statement.values(status=OutboxStatus.DROPPED, updated_at=now, dedupe_key=None),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def replan_reminders(
    session: Session,
    activity: Activity,
    now: datetime,
    join_link_before: timedelta | None = None,
) -> None:
    """The activity moved (or its reminders or link changed): planned reminders and meeting
    links follow the new time (and a reminder moment that is already past is not sent, the
    move notice says it all)."""
    kinds = (OutboxKind.REMINDER, OutboxKind.JOIN_LINK)
    drop_open(session, now, activity_id=activity.id, kinds=kinds)
    seats = session.scalars(
        select(Registration).where(
            Registration.activity_id == activity.id,
            Registration.status == RegistrationStatus.REGISTERED,
        )
    ).all()
    for registration in seats:
        plan_reminders(session, activity, registration, now, join_link_before)


# A kind held in the quiet hours (storage/quiet_hours.py; declared by its feature) is sent
# at night anyway when the organiser chose so: then the row's payload says so.
NIGHT_ALLOWED = "night_allowed"

# Reminders are planned with the seat, wherever in the day they fall; the sender moves those
# due within this horizon out of the quiet hours (`keep_reminders_out_of_quiet_hours`).
QUIET_HORIZON = timedelta(hours=36)


def keep_reminders_out_of_quiet_hours(session: Session, now: datetime, quiet: QuietHours) -> int:
    """Pending reminders that fall in the quiet hours of the next QUIET_HORIZON go the
    evening before instead (QuietHours.reminder_moment). Each is looked at once: the moment
    first planned is kept in its payload. Returns how many were looked at.

    Done by the sender once a minute rather than where seats are taken (a dozen places),
    and for the next day and a half only: the evening before is never further ahead."""
    windows = quiet.windows(now - timedelta(hours=1), now + QUIET_HORIZON)
    if not windows:
        return 0
    inside = or_(
        *(
            and_(OutboxMessage.due_at >= start, OutboxMessage.due_at < end)
            for start, end in windows
        )
    )
    rows = session.execute(
        select(
            OutboxMessage.id, OutboxMessage.due_at, Registration.registered_at, Activity.starts_at
        )
        .join(Registration, Registration.id == OutboxMessage.registration_id)
        .join(Activity, Activity.id == Registration.activity_id)
        .where(
            # The partial index ix_outbox_due (priority, due_at): a range probe per window
            # however many reminders are planned further ahead.
            OutboxMessage.status == _PENDING,
            OutboxMessage.priority == int(priority_of(OutboxKind.REMINDER)),
            OutboxMessage.kind == OutboxKind.REMINDER.value,
            OutboxMessage.payload.is_(None),
            inside,
        )
    ).all()
    for message_id, due, signed_up, starts_at in rows:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id)
            .values(
                due_at=quiet.reminder_moment(due, signed_up, now, starts_at),
                payload=json.dumps({"planned": due.isoformat()}),
                updated_at=now,
            ),
            execution_options={"synchronize_session": False},
        )
    return len(rows)


# -- feedback: asked some time after the activity ends ---------------------------------------

# A feedback question is answered within days or not at all.
FEEDBACK_TRY_FOR = timedelta(days=7)


def plan_feedback_requests(
    session: Session, now: datetime, after: timedelta, quiet: QuietHours | None = None
) -> int:
    """Owe the feedback question to every seat of an activity that ended `after` ago (and
    at most FEEDBACK_TRY_FOR before that). Planned when due rather than with the seat, so
    it always follows the activity's end as it is now (moved, lengthened) with no replanning.
    Whether the person should really get it (present, or nobody checked in) is decided at
    send time. Due in the `quiet` hours, it waits until they end. Returns how many were
    planned; planning twice keeps one row (dedupe key)."""
    # The few activities that just ended first, then their seats (by the (activity, status)
    # index): one join let SQLite start from every registered seat, 140-300 ms at 100k
    # registrations, on the event loop, once a minute.
    ended = session.scalars(
        select(Activity.id).where(
            Activity.ends_at <= now - after,
            Activity.ends_at > now - after - FEEDBACK_TRY_FOR,
        )
    ).all()
    if not ended:
        return 0
    already = exists().where(
        OutboxMessage.registration_id == Registration.id,
        OutboxMessage.kind == OutboxKind.FEEDBACK_REQUEST.value,
    )
    rows = session.execute(
        select(Registration.id, Registration.user_id, Activity.id, Activity.ends_at)
        .join(Activity, Activity.id == Registration.activity_id)
        .where(
            Registration.activity_id.in_(ended),
            Registration.status == RegistrationStatus.REGISTERED,
            ~already,
        )
    ).all()
    for registration_id, user_id, activity_id, ends_at in rows:
        due = ends_at + after
        if quiet is not None:
            due = quiet.release(max(due, now))
        owe(
            session,
            user_id,
            OutboxKind.FEEDBACK_REQUEST,
            now,
            activity_id=activity_id,
            registration_id=registration_id,
            due_at=due,
            offset_seconds=int(after.total_seconds()),
            dedupe_key=f"feedback:{registration_id}",
        )
    return len(rows)


# -- claiming and settling --------------------------------------------------------------------

_table = cast(Table, OutboxMessage.__table__)
_RETURNED = (
    _table.c.id,
    _table.c.user_id,
    _table.c.kind,
    _table.c.activity_id,
    _table.c.registration_id,
    _table.c.broadcast_id,
    _table.c.due_at,
    _table.c.deadline,
    _table.c.attempts,
    _table.c.payload,
)


# Written out as a literal: a planner can use the partial index ix_outbox_due (WHERE status =
# 'pending') only when the query names that very value, not a parameter.
_PENDING: ColumnElement[str] = literal_column("'pending'")


def claim_next(
    session: Session,
    now: datetime,
    sender: str,
    lease: timedelta = DEFAULT_LEASE,
    *,
    user_id: int | None = None,
    below: Priority | None = None,
) -> OwedMessage | None:
    """Take the most urgent due message for sending (UPDATE ... RETURNING): only one
    user's, or only those more urgent than `below` (while bulk sending is paused).

    One priority after the other, each the first due row of ix_outbox_due: an index probe
    however many rows are pending (thousands of reminders planned for later, a broadcast
    half sent) or were sent. One query ordering all priorities at once walks every pending
    row of a higher priority that is not due yet, or sorts them all."""
    if user_id is not None:
        # A user's few rows (ix_outbox_user_id): one statement.
        return _claim(
            session,
            now,
            sender,
            lease,
            [_table.c.user_id == user_id]
            + ([_table.c.priority < int(below)] if below is not None else []),
            [_table.c.priority, _table.c.due_at, _table.c.id],
        )
    for priority in Priority:
        if below is not None and priority >= below:
            break
        owed = _claim(
            session,
            now,
            sender,
            lease,
            [_table.c.priority == int(priority)],
            [_table.c.due_at, _table.c.id],
        )
        if owed is not None:
            return owed
    return None


def database_now(session: Session, plus: timedelta = timedelta(0)) -> ColumnElement[Any]:
    """The database's own clock (plus `plus`), as stored in a UtcDateTime column.

    Leases are set and judged on it, never on an instance's clock: with instances whose
    clocks differ (one 40 s ahead), the one ahead would take over claims the other still
    holds, and send them twice."""
    if session.get_bind().dialect.name == "postgresql":
        return func.statement_timestamp() + literal(plus, Interval())
    # Written like SQLAlchemy writes a datetime on SQLite (microseconds: six digits), so
    # that comparing the text compares the moments.
    return func.strftime("%Y-%m-%d %H:%M:%f000", "now", f"{plus.total_seconds():+.3f} seconds")


def _claim(
    session: Session,
    now: datetime,
    sender: str,
    lease: timedelta,
    conditions: list[ColumnElement[bool]],
    order: list[ColumnElement[Any]],
) -> OwedMessage | None:
    next_id = (
        select(_table.c.id)
        .where(_table.c.status == _PENDING, _table.c.due_at <= now, *conditions)
        .order_by(*order)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    row = session.execute(
        update(_table)
        .where(_table.c.id == next_id, _table.c.status == OutboxStatus.PENDING.value)
        .values(
            status=OutboxStatus.SENDING.value,
            sender=sender,
            lease_until=database_now(session, lease),
            attempts=_table.c.attempts + 1,
            updated_at=now,
        )
        .returning(*_RETURNED)
    ).first()
    if row is None:
        return None
    return OwedMessage(
        id=row.id,
        user_id=row.user_id,
        kind=OutboxKind(row.kind),
        activity_id=row.activity_id,
        registration_id=row.registration_id,
        broadcast_id=row.broadcast_id,
        due_at=row.due_at,
        deadline=row.deadline,
        attempts=row.attempts,
        payload=json.loads(row.payload) if row.payload else {},
    )


def settle(
    session: Session, message_id: int, status: OutboxStatus, now: datetime, error: str = ""
) -> None:
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(
            status=status,
            updated_at=now,
            sent_at=now if status is OutboxStatus.SENT else None,
            lease_until=None,
            last_error=error[:200] or None,
        ),
        execution_options={"synchronize_session": False},
    )


def give_back(session: Session, message_id: int, sender: str, now: datetime) -> None:
    """A claim this sender could not finish (the database went away before the message was
    sent) is owed again at once, not only when its lease runs out."""
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.status == OutboxStatus.SENDING,
            OutboxMessage.sender == sender,
        )
        .values(status=OutboxStatus.PENDING, lease_until=None, updated_at=now),
        execution_options={"synchronize_session": False},
    )


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s … at most 10 minutes between tries."""
    doublings = min(max(0, attempts - 1), 10)
    return min(BACKOFF_MAX, BACKOFF_FIRST * (1 << doublings))


def retry_later(
    session: Session,
    message: OwedMessage,
    now: datetime,
    error: str,
    wait: timedelta | None = None,
) -> OutboxStatus:
    """Put a message back for another try, or give up at its deadline."""
    next_try = now + (wait if wait is not None else backoff(message.attempts))
    if message.deadline is not None and next_try >= message.deadline:
        settle(session, message.id, OutboxStatus.FAILED, now, f"deadline: {error}")
        return OutboxStatus.FAILED
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id)
        .values(
            status=OutboxStatus.PENDING,
            due_at=next_try,
            lease_until=None,
            updated_at=now,
            last_error=error[:200],
        ),
        execution_options={"synchronize_session": False},
    )
    return OutboxStatus.PENDING


def release_stale_claims(session: Session, now: datetime) -> int:
    """Claims whose sender died (lease ran out, by the database's clock) go back in the
    queue: the message in flight at a crash may be sent twice, never lost."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.SENDING,
            OutboxMessage.lease_until < database_now(session),
        )
        .values(status=OutboxStatus.PENDING, lease_until=None, updated_at=now),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def next_due_at(session: Session) -> datetime | None:
    return session.scalar(
        select(func.min(OutboxMessage.due_at)).where(OutboxMessage.status == OutboxStatus.PENDING)
    )


# -- looking at it ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """Where a set of owed messages stands (a broadcast's report)."""

    total: int
    sent: int
    unconfirmed: int
    blocked: int
    failed: int
    dropped: int

    @property
    def open(self) -> int:
        return self.total - self.done

    @property
    def done(self) -> int:
        return self.sent + self.unconfirmed + self.blocked + self.failed + self.dropped


def tally(rows: Iterable[tuple[str, int]]) -> Tally:
    counts: dict[str, int] = dict(rows)
    return Tally(
        total=sum(counts.values()),
        sent=counts.get(OutboxStatus.SENT, 0),
        unconfirmed=counts.get(OutboxStatus.UNCONFIRMED, 0),
        blocked=counts.get(OutboxStatus.BLOCKED, 0),
        failed=counts.get(OutboxStatus.FAILED, 0),
        dropped=counts.get(OutboxStatus.DROPPED, 0),
    )


def broadcast_tally(session: Session, broadcast_id: int) -> Tally:
    rows = session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.broadcast_id == broadcast_id)
        .group_by(OutboxMessage.status)
    ).all()
    return tally((status, count) for status, count in rows)


def retry_failed(session: Session, broadcast_id: int, now: datetime) -> int:
    """The organiser's "send again to the failed ones"."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.broadcast_id == broadcast_id,
            OutboxMessage.status == OutboxStatus.FAILED,
        )
        .values(
            status=OutboxStatus.PENDING,
            due_at=now,
            deadline=deadline_for(session, OutboxKind.BROADCAST, now),
            attempts=0,
            updated_at=now,
        ),
        execution_options={"synchronize_session": False},
    )
    count = int(result.rowcount)  # type: ignore[attr-defined]
    if count:
        note_owed(session, (), many=True)
    return count


def messages_for(
    session: Session, user_id: int, kinds: Sequence[OutboxKind] = ()
) -> list[tuple[OutboxKind, OutboxStatus]]:
    query = select(OutboxMessage.kind, OutboxMessage.status).where(
        OutboxMessage.user_id == user_id
    )
    if kinds:
        query = query.where(OutboxMessage.kind.in_([k.value for k in kinds]))
    rows = session.execute(query.order_by(OutboxMessage.id)).all()
    return [(OutboxKind(kind), OutboxStatus(status)) for kind, status in rows]


def open_count(session: Session, *, activity_id: int | None = None) -> int:
    query = select(func.count()).where(OutboxMessage.status.in_([s.value for s in OPEN]))
    if activity_id is not None:
        query = query.where(OutboxMessage.activity_id == activity_id)
    return int(session.scalar(query) or 0)
