"""What the sign-up and /mijnaanmeldingen read, each as one plain function taking a session:
the handlers run them through the database seam (storage.db.Database.run_reading)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from storage.activities import (
    ActivityInfo,
    get_activity,
    get_activity_by_id,
    upcoming_activities,
)
from storage.registrations import (
    SignupDetails,
    SignupResult,
    UserRegistration,
    availability,
    get_profile,
    user_registrations,
)

# Other dates offered after giving up a place: as many as fit a phone screen.
OTHER_DATES = 5


@dataclass(frozen=True)
class Picker:
    """The activities open for sign-up, and the user's places (by activity id)."""

    open: list[ActivityInfo]
    held: dict[int, UserRegistration]


def picker(session: Session, user_id: int, now: datetime) -> Picker:
    return Picker(
        [a for a in upcoming_activities(session, now) if a.open_for_registration(now)],
        {item.activity.id: item for item in user_registrations(session, user_id, now)},
    )


@dataclass(frozen=True)
class SignupStart:
    """Whether the user may start signing up for an activity, and the answers they gave the
    last time (offered again)."""

    activity: ActivityInfo | None
    check: SignupResult
    profile: SignupDetails | None


def signup_start(
    session: Session, activity: str | int, user_id: int, now: datetime, examples_allowed: bool
) -> SignupStart:
    """`activity`: its slug (a deep link) or its id (a button)."""
    found = (
        get_activity(session, activity)
        if isinstance(activity, str)
        else get_activity_by_id(session, activity)
    )
    check = availability(session, found, user_id, now, examples_allowed=examples_allowed)
    return SignupStart(found, check, get_profile(session, user_id))


def other_dates(
    activity: ActivityInfo, candidates: list[ActivityInfo], held: set[int], now: datetime
) -> list[ActivityInfo]:
    """Upcoming activities of the same kind, open for sign-up, that the user has no place
    in (the one just given up excluded), soonest first."""
    return [
        other
        for other in candidates
        if other.kind == activity.kind
        and other.id != activity.id
        and other.id not in held
        and other.open_for_registration(now)
    ][:OTHER_DATES]


def read_other_dates(
    session: Session, activity: ActivityInfo, user_id: int, now: datetime
) -> list[ActivityInfo]:
    candidates = upcoming_activities(session, now, activity.kind)
    held = {item.activity.id for item in user_registrations(session, user_id, now)}
    return other_dates(activity, candidates, held, now)
