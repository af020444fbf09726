"""Feedback after an activity: who is asked, the answers, and the organiser's summary."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import Activity, Feedback, Registration
from storage.vocabulary import RegistrationStatus, Status

STARS = (1, 2, 3, 4, 5)


def feedback_owed(session: Session, registration_id: int, now: datetime) -> bool:
    """Whether this seat should get the feedback question now: still registered, the
    activity held (not cancelled) and over, and the person present, or nobody checked in
    at all (then everyone registered is asked)."""
    registration = session.get(Registration, registration_id)
    if registration is None or registration.status != RegistrationStatus.REGISTERED:
        return False
    activity = session.get(Activity, registration.activity_id)
    if activity is None or activity.status != Status.PUBLISHED or now < activity.ends_at:
        return False
    if registration.attended is True:
        return True
    if registration.attended is False:
        return False
    return not anyone_checked_in(session, activity.id)


def anyone_checked_in(session: Session, activity_id: int) -> bool:
    return (
        session.scalar(
            select(Registration.id)
            .where(Registration.activity_id == activity_id, Registration.attended.is_not(None))
            .limit(1)
        )
        is not None
    )


def may_answer(session: Session, activity_id: int, user_id: int) -> bool:
    """Only someone who held a seat answers (a forged button of a stranger is refused)."""
    return (
        session.scalar(
            select(Registration.id).where(
                Registration.activity_id == activity_id,
                Registration.user_id == user_id,
                Registration.status == RegistrationStatus.REGISTERED,
            )
        )
        is not None
    )


def _own(session: Session, activity_id: int, user_id: int) -> Feedback | None:
    return session.scalar(
        select(Feedback).where(Feedback.activity_id == activity_id, Feedback.user_id == user_id)
    )


def save_stars(
    session: Session, activity_id: int, user_id: int, stars: int, now: datetime
) -> None:
    """One answer per activity and person: answering again replaces the stars."""
    if stars not in STARS:
        raise ValueError(f"stars must be 1-5, not {stars}")
    feedback = _own(session, activity_id, user_id)
    if feedback is None:
        feedback = Feedback(activity_id=activity_id, user_id=user_id, created_at=now)
        session.add(feedback)
    feedback.stars = stars
    feedback.updated_at = now


def save_comment(
    session: Session, activity_id: int, user_id: int, comment: str | None, now: datetime
) -> bool:
    """The optional comment after the stars (None: "no comment"). False without stars."""
    feedback = _own(session, activity_id, user_id)
    if feedback is None:
        return False
    feedback.comment = comment
    feedback.updated_at = now
    return True


@dataclass(frozen=True)
class FeedbackSummary:
    activity_id: int
    count: int
    average: float | None
    distribution: dict[int, int]  # stars -> how many
    comments: list[str]


def feedback_summary(session: Session, activity_id: int) -> FeedbackSummary:
    rows = session.execute(
        select(Feedback.stars, Feedback.comment)
        .where(Feedback.activity_id == activity_id, Feedback.stars.is_not(None))
        .order_by(Feedback.updated_at, Feedback.id)
    ).all()
    stars = [int(s) for s, _ in rows if s is not None]
    distribution = {n: stars.count(n) for n in STARS}
    return FeedbackSummary(
        activity_id=activity_id,
        count=len(stars),
        average=sum(stars) / len(stars) if stars else None,
        distribution=distribution,
        comments=[c for _, c in rows if c],
    )


def past_activity_ids(session: Session, now: datetime, limit: int = 20) -> list[int]:
    """Ended activities that were held, latest first (the organiser's /feedback picker)."""
    return list(
        session.scalars(
            select(Activity.id)
            .where(Activity.ends_at <= now, Activity.status == Status.PUBLISHED)
            .order_by(Activity.ends_at.desc())
            .limit(limit)
        )
    )


def erase_feedback(session: Session, user_id: int) -> None:
    """/vergeetmij: the person's answers go with everything else."""
    session.execute(delete(Feedback).where(Feedback.user_id == user_id))


def purge_old_feedback(session: Session, older_than: timedelta, now: datetime) -> int:
    """Answers are kept as long as the registrations of their activity (privacy retention)."""
    ended = select(Activity.id).where(Activity.ends_at < now - older_than)
    result = session.execute(delete(Feedback).where(Feedback.activity_id.in_(ended)))
    return int(result.rowcount)  # type: ignore[attr-defined]
