"""The messages owed before an activity (planned with the seat, storage/outbox.py:
plan_reminders; switched off and on in handlers/reminders.py): the reminders, and an
online activity's meeting link shortly before it starts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from core import callbacks
from core.context import MaoContext
from core.keyboards import keyboard
from core.services import Services
from jobs.owed_kinds import Owed, OwedKind, OwedSweep, Rendered
from jobs.owed_seats import held, load_seat, seat_ahead, seat_block
from storage.outbox import (
    UNTIL_END,
    UNTIL_START,
    OutboxKind,
    Priority,
    keep_reminders_out_of_quiet_hours,
)
from storage.registrations import UserRegistration
from storage.vocabulary import RegistrationStatus


def reminder(context: MaoContext, owed: Owed, seat: UserRegistration) -> Rendered | None:
    person = owed.recipient
    if person is not None and (person.blocked or not person.reminders_enabled):
        return None
    if not seat_ahead(seat, owed.now):
        return None
    rid = seat.registration_id
    buttons = [
        (context.text("reminder_coming"), callbacks.REMINDER_COMING.data(registration=rid)),
        (context.text("mine_cancel"), callbacks.MINE_CANCEL.data(registration=rid)),
    ]
    return Rendered(
        text=f"{context.text('reminder_text')}\n\n{seat_block(context, seat)}",
        markup=keyboard([buttons]),
    )


def join_link(context: MaoContext, owed: Owed, seat: UserRegistration) -> Rendered | None:
    # Owed while the seat is held, until the activity ends (someone joining late needs it
    # most); the link is the activity's as it is now, none if it was taken away. Sent also
    # with reminders off: without it the user cannot take part.
    activity = seat.activity
    if (
        not held(seat)
        or seat.status != RegistrationStatus.REGISTERED
        or owed.now >= activity.ends_at
        or not activity.online_url
    ):
        return None
    title = activity.title(context.language)
    text = context.text("join_link_text", title=title, url=activity.online_url)
    return Rendered(text=f"{text}\n\n{seat_block(context, seat)}")


OWED: tuple[OwedKind[UserRegistration], ...] = (
    OwedKind(OutboxKind.REMINDER, Priority.REMINDER, UNTIL_START, load_seat, reminder),
    # Needed to take part at all, and due minutes before the start: before other reminders,
    # and until the activity ends.
    OwedKind(OutboxKind.JOIN_LINK, Priority.NOTICE, UNTIL_END, load_seat, join_link),
)


def keep_out_of_quiet_hours(session: Session, services: Services, now: datetime) -> None:
    """Reminders that would fall in the quiet hours go the evening before."""
    quiet = services.config.quiet_hours
    if quiet is not None:
        keep_reminders_out_of_quiet_hours(session, now, quiet)


# Looked for once a minute, as feedback is planned.
SWEEPS = (OwedSweep("quiet-hours", keep_out_of_quiet_hours),)
