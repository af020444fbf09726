"""What the owed-message kinds about a seat share (sign-up, activity changes, reminders,
feedback): the seat as it is now, and the activity block their notices end with."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from core.activity_text import describe
from core.context import MaoContext
from core.services import Services
from jobs.owed_kinds import Owed
from storage.registrations import UserRegistration, get_user_registration
from storage.vocabulary import RegistrationStatus, Status


def load_seat(session: Session, owed: Owed, _services: Services) -> UserRegistration | None:
    """The place the message is about, as it is now (None: gone, so nothing is owed)."""
    message = owed.message
    if message.registration_id is None:
        return None
    return get_user_registration(session, message.registration_id, message.user_id)


def seat_block(context: MaoContext, seat: UserRegistration) -> str:
    """The activity as a notice shows it. The meeting link only for a seat (a move notice
    also reaches the waiting list)."""
    return describe(
        seat.activity,
        context,
        with_seats=False,
        with_link=seat.status == RegistrationStatus.REGISTERED,
    )


def held(seat: UserRegistration) -> bool:
    """The activity still takes place (not cancelled, not withdrawn to a draft)."""
    return seat.activity.status == Status.PUBLISHED


def seat_ahead(seat: UserRegistration, now: datetime) -> bool:
    """A seat held for an activity that is on and has not started: what a confirmation, a
    calendar file and a reminder are owed for."""
    return (
        held(seat)
        and seat.status == RegistrationStatus.REGISTERED
        and now < seat.activity.starts_at
    )
