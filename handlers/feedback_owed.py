"""The feedback question (answered in handlers/feedback.py), owed some time after an
activity ends (storage/outbox.py: plan_feedback_requests)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from core import callbacks
from core.context import MaoContext
from core.keyboards import keyboard
from core.services import Services
from jobs.owed_kinds import Owed, OwedKind, OwedSweep, Rendered
from jobs.owed_seats import held, load_seat
from storage.feedback import feedback_owed
from storage.outbox import (
    FEEDBACK_TRY_FOR,
    OutboxKind,
    Priority,
    plan_feedback_requests,
    tried_for,
)
from storage.registrations import UserRegistration


def load_wanted_seat(session: Session, owed: Owed, services: Services) -> UserRegistration | None:
    """Decided at send time: present (or nobody checked in), still registered, the activity
    held, and feedback not switched off meanwhile."""
    registration_id = owed.message.registration_id
    if not services.config.feedback.enabled or registration_id is None:
        return None
    if not feedback_owed(session, registration_id, owed.now):
        return None
    return load_seat(session, owed, services)


def question(context: MaoContext, owed: Owed, seat: UserRegistration) -> Rendered | None:
    if not held(seat):
        return None
    activity = seat.activity
    stars = [
        (f"⭐{n}", callbacks.FEEDBACK_STARS.data(activity=activity.id, stars=n))
        for n in range(1, 6)
    ]
    text = context.text("feedback_question", title=activity.title(context.language))
    return Rendered(text=text, markup=keyboard([stars]))


OWED: tuple[OwedKind[UserRegistration], ...] = (
    # Nobody waits for it: with the reminders, before any announcement; never at night.
    OwedKind(
        OutboxKind.FEEDBACK_REQUEST,
        Priority.REMINDER,
        # Answered within days or not at all.
        tried_for(FEEDBACK_TRY_FOR),
        load_wanted_seat,
        question,
        held_at_night=True,
    ),
)


def plan_feedback(session: Session, services: Services, now: datetime) -> None:
    """Feedback questions become owed once an activity has been over `feedback.after`."""
    feedback = services.config.feedback
    if feedback.enabled:
        plan_feedback_requests(session, now, feedback.after, services.config.quiet_hours)


# Looked for once a minute: a cheap query, but the sender's rounds come every second.
SWEEPS = (OwedSweep("feedback", plan_feedback),)
