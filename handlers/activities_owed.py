"""The messages an activity's changes owe the people involved (handlers/organiser_activities.py,
storage/activities.py): it was cancelled, it is on again, it moved.

Written out at send time: the activity block shows the activity as it is then.
"""

from __future__ import annotations

from datetime import datetime

from core import callbacks
from core.activity_text import moment
from core.context import MaoContext
from core.keyboards import keyboard
from jobs.owed_kinds import Owed, OwedKind, Rendered
from jobs.owed_seats import held, load_seat, seat_block
from storage.outbox import DEFAULT_TRY_FOR, UNTIL_START, OutboxKind, Priority, tried_for
from storage.registrations import UserRegistration


def cancelled(context: MaoContext, owed: Owed, seat: UserRegistration) -> Rendered:
    return Rendered(text=f"{context.text('notice_cancelled')}\n\n{seat_block(context, seat)}")


def reopened(context: MaoContext, owed: Owed, seat: UserRegistration) -> Rendered | None:
    if not held(seat):
        return None
    again = (
        context.text("notice_signup_again"),
        callbacks.SIGNUP_PICK.data(activity=seat.activity.id),
    )
    return Rendered(
        text=f"{context.text('notice_reopened')}\n\n{seat_block(context, seat)}",
        markup=keyboard([[again]]),
    )


def moved(context: MaoContext, owed: Owed, seat: UserRegistration) -> Rendered | None:
    if not held(seat):
        return None
    previous = owed.message.payload.get("from")
    when = moment(datetime.fromisoformat(previous), context) if previous else "–"
    return Rendered(
        text=f"{context.text('notice_moved', previous=when)}\n\n{seat_block(context, seat)}"
    )


TWO_DAYS = tried_for(DEFAULT_TRY_FOR)

OWED: tuple[OwedKind[UserRegistration], ...] = (
    # Told however late (the people involved may have planned around it).
    OwedKind(OutboxKind.ACTIVITY_CANCELLED, Priority.NOTICE, TWO_DAYS, load_seat, cancelled),
    # No use once the activity has started.
    OwedKind(OutboxKind.ACTIVITY_REOPENED, Priority.NOTICE, UNTIL_START, load_seat, reopened),
    OwedKind(OutboxKind.ACTIVITY_MOVED, Priority.NOTICE, UNTIL_START, load_seat, moved),
)
