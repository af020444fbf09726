"""Reminder planning. The reminders table is the plan; the scheduler only follows it.

`sync_reminders` reconciles the plan with the registrations (new sign-ups, cancellations,
moved or cancelled activities) and is safe to run any number of times. `claim_reminder`
moves a row from planned to sending with one conditional UPDATE, so a reminder is sent at
most once, whichever process or restart gets there first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.activities import ActivityInfo, get_activity_by_id
from storage.models import Activity, Registration, Reminder
from storage.users import get_user
from storage.vocabulary import RegistrationStatus, Status


@dataclass(frozen=True)
class PlannedReminder:
    id: int
    due_at: datetime


@dataclass(frozen=True)
class ReminderToSend:
    id: int
    user_id: int
    registration_id: int
    activity: ActivityInfo


def offsets_for(activity: Activity, defaults: list[timedelta]) -> list[timedelta]:
    if activity.reminder_offsets is None:
        return defaults
    return [timedelta(seconds=int(s)) for s in activity.reminder_offsets.split(",") if s]


def sync_reminders(
    session: Session, defaults: list[timedelta], now: datetime, activity_id: int | None = None
) -> None:
    """Make the plan match reality for one activity, or for every activity still to come."""
    query = select(Activity).where(Activity.starts_at > now)
    if activity_id is not None:
        query = query.where(Activity.id == activity_id)
    for activity in session.scalars(query).all():
        _sync_activity(session, activity, offsets_for(activity, defaults), now)


def _sync_activity(
    session: Session, activity: Activity, offsets: list[timedelta], now: datetime
) -> None:
    rows = session.scalars(select(Reminder).where(Reminder.activity_id == activity.id)).all()
    existing = {(r.registration_id, r.offset_seconds): r for r in rows}
    wanted: set[tuple[int, int]] = set()
    if activity.status == Status.PUBLISHED:
        registered = session.scalars(
            select(Registration).where(
                Registration.activity_id == activity.id,
                Registration.status == RegistrationStatus.REGISTERED,
            )
        ).all()
        for registration in registered:
            for offset in offsets:
                seconds = int(offset.total_seconds())
                due = activity.starts_at - offset
                key = (registration.id, seconds)
                wanted.add(key)
                row = existing.get(key)
                if row is None:
                    # Signed up after this reminder's moment: the confirmation is enough.
                    status = "planned" if due > now else "skipped"
                    session.add(
                        Reminder(
                            registration_id=registration.id,
                            user_id=registration.user_id,
                            activity_id=activity.id,
                            offset_seconds=seconds,
                            due_at=due,
                            status=status,
                            updated_at=now,
                        )
                    )
                elif row.due_at != due:
                    # The activity moved: plan again for the new time.
                    row.due_at = due
                    row.status = "planned" if due > now else "skipped"
                    row.updated_at = now
                elif row.status == "cancelled":
                    row.status = "planned" if due > now else "skipped"
                    row.updated_at = now
    for key, row in existing.items():
        if key not in wanted and row.status == "planned":
            row.status = "cancelled"
            row.updated_at = now
    session.flush()


def planned_reminders(session: Session, activity_id: int | None = None) -> list[PlannedReminder]:
    query = select(Reminder.id, Reminder.due_at).where(Reminder.status == "planned")
    if activity_id is not None:
        query = query.where(Reminder.activity_id == activity_id)
    return [
        PlannedReminder(rid, due) for rid, due in session.execute(query.order_by(Reminder.due_at))
    ]


def unplanned_ids(session: Session, ids: list[int]) -> list[int]:
    """Of these reminder ids, the ones no longer planned (their jobs can go)."""
    if not ids:
        return []
    return list(
        session.scalars(
            select(Reminder.id).where(Reminder.id.in_(ids), Reminder.status != "planned")
        )
    )


def claim_reminder(session: Session, reminder_id: int, now: datetime) -> ReminderToSend | None:
    """Take the reminder for sending, or settle why it should not be sent (then None)."""
    claimed = session.execute(
        update(Reminder)
        .where(Reminder.id == reminder_id, Reminder.status == "planned")
        .values(status="sending", updated_at=now)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None  # sent, skipped or cancelled already: by us, a restart or another instance
    reminder = session.get(Reminder, reminder_id)
    assert reminder is not None
    activity = get_activity_by_id(session, reminder.activity_id)
    registration = session.get(Registration, reminder.registration_id)
    user = get_user(session, reminder.user_id)
    reason = None
    if activity is None or activity.status != Status.PUBLISHED:
        reason = "cancelled"
    elif now >= activity.starts_at:
        reason = "skipped"  # fell due while the bot was down and the activity has begun
    elif registration is None or registration.status != RegistrationStatus.REGISTERED:
        reason = "cancelled"
    elif user is not None and (not user.reminders_enabled or user.blocked):
        reason = "skipped"
    if reason is not None:
        reminder.status = reason
        return None
    assert activity is not None
    return ReminderToSend(reminder.id, reminder.user_id, reminder.registration_id, activity)


def mark_reminder(session: Session, reminder_id: int, status: str, now: datetime) -> None:
    session.execute(
        update(Reminder).where(Reminder.id == reminder_id).values(status=status, updated_at=now)
    )
