"""Figures for organisers (/stats in chat, `mao-bot stats`): plain numbers, no formatting.

FAQ: questions are counted per answer band and day (the faq_counts table: no text, no
user)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, Date, case, cast, func, literal, select
from sqlalchemy.orm import Session

from storage.activities import ActivityInfo, get_activity_by_id, upcoming_activities
from storage.faq_misses import TopicRejections, band_counts, topic_rejections
from storage.feedback import feedback_summary
from storage.models import Activity, Broadcast, Registration, User
from storage.outbox import Tally, broadcast_tally
from storage.vocabulary import RegistrationStatus, Status

ACTIVE_WITHIN = timedelta(days=30)


@dataclass(frozen=True)
class UserFigures:
    total: int
    active: int  # seen in the last 30 days
    opted_out: int  # no announcements
    blocked: int


@dataclass(frozen=True)
class UpcomingFigures:
    activity_id: int
    slug: str
    title_nl: str
    title_en: str
    starts_at: datetime
    registered: int
    capacity: int | None
    waiting: int

    @property
    def fill_rate(self) -> float | None:
        """Seats taken of the capacity (None: no limit)."""
        return self.registered / self.capacity if self.capacity else None


@dataclass(frozen=True)
class PastFigures:
    activity_id: int
    slug: str
    title_nl: str
    title_en: str
    starts_at: datetime
    present: int
    absent: int
    unknown: int
    feedback_count: int
    feedback_average: float | None


@dataclass(frozen=True)
class FaqFigures:
    answered_7d: int
    suggested_7d: int
    fallback_7d: int
    answered_30d: int
    suggested_30d: int
    fallback_30d: int
    # "Niet wat ik vroeg" in 30 days: the topics rejected most, by share of their answers.
    rejected_30d: tuple[TopicRejections, ...] = ()


@dataclass(frozen=True)
class BroadcastFigures:
    broadcast_id: int
    created_at: datetime
    audience: str
    tally: Tally


@dataclass(frozen=True)
class Statistics:
    users: UserFigures
    upcoming: list[UpcomingFigures]
    past: list[PastFigures]
    faq: FaqFigures
    broadcasts: list[BroadcastFigures]


def user_figures(session: Session, now: datetime) -> UserFigures:
    # One pass over the users, not one per figure (100,000 rows at scale).
    def flagged(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    total, active, opted_out, blocked = session.execute(
        select(
            func.count(User.id),
            flagged(User.last_seen >= now - ACTIVE_WITHIN),
            flagged(User.announcements_opt_out.is_(True)),
            flagged(User.blocked.is_(True)),
        )
    ).one()
    return UserFigures(
        total=int(total), active=int(active), opted_out=int(opted_out), blocked=int(blocked)
    )


def _upcoming(activity: ActivityInfo, registered: int) -> UpcomingFigures:
    return UpcomingFigures(
        activity_id=activity.id,
        slug=activity.slug,
        title_nl=activity.title_nl,
        title_en=activity.title_en,
        starts_at=activity.starts_at,
        registered=registered,
        capacity=activity.capacity,
        waiting=activity.waiting,
    )


def _registered_counts(session: Session, activity_ids: list[int]) -> dict[int, int]:
    """Seats registered per activity, in one statement (ix_registrations_activity_status)."""
    if not activity_ids:
        return {}
    rows = session.execute(
        select(Registration.activity_id, func.count(Registration.id))
        .where(
            Registration.activity_id.in_(activity_ids),
            Registration.status == RegistrationStatus.REGISTERED,
        )
        .group_by(Registration.activity_id)
    ).all()
    return {activity_id: int(count) for activity_id, count in rows}


def upcoming_figures(session: Session, now: datetime) -> list[UpcomingFigures]:
    activities = upcoming_activities(session, now)
    registered = _registered_counts(session, [a.id for a in activities])
    return [_upcoming(a, registered.get(a.id, 0)) for a in activities]


def past_figures(session: Session, now: datetime, limit: int = 10) -> list[PastFigures]:
    """The latest activities that were held: who turned up (as checked in) and feedback."""
    ids = session.scalars(
        select(Activity.id)
        .where(Activity.ends_at <= now, Activity.status == Status.PUBLISHED)
        .order_by(Activity.ends_at.desc())
        .limit(limit)
    ).all()
    result = []
    for activity_id in ids:
        activity = get_activity_by_id(session, activity_id)
        assert activity is not None
        attended = session.execute(
            select(Registration.attended, func.count(Registration.id))
            .where(
                Registration.activity_id == activity_id,
                Registration.status == RegistrationStatus.REGISTERED,
            )
            .group_by(Registration.attended)
        ).all()
        counts = {value: int(n) for value, n in attended}
        feedback = feedback_summary(session, activity_id)
        result.append(
            PastFigures(
                activity_id=activity_id,
                slug=activity.slug,
                title_nl=activity.title_nl,
                title_en=activity.title_en,
                starts_at=activity.starts_at,
                present=counts.get(True, 0),
                absent=counts.get(False, 0),
                unknown=counts.get(None, 0),
                feedback_count=feedback.count,
                feedback_average=feedback.average,
            )
        )
    return result


def faq_figures(session: Session, now: datetime, zone: tzinfo) -> FaqFigures:
    today = now.astimezone(zone).date()
    week = band_counts(session, today - timedelta(days=6))
    month = band_counts(session, today - timedelta(days=29))
    return FaqFigures(
        answered_7d=week.get("answer", 0),
        suggested_7d=week.get("suggest", 0),
        fallback_7d=week.get("fallback", 0),
        answered_30d=month.get("answer", 0),
        suggested_30d=month.get("suggest", 0),
        fallback_30d=month.get("fallback", 0),
        rejected_30d=tuple(topic_rejections(session, today - timedelta(days=29))),
    )


def broadcast_figures(session: Session, limit: int = 5) -> list[BroadcastFigures]:
    rows = session.execute(
        select(Broadcast.id, Broadcast.created_at, Broadcast.audience)
        .order_by(Broadcast.created_at.desc(), Broadcast.id.desc())
        .limit(limit)
    ).all()
    return [
        BroadcastFigures(id_, created_at, audience, broadcast_tally(session, id_))
        for id_, created_at, audience in rows
    ]


def statistics(session: Session, now: datetime, zone: tzinfo = UTC) -> Statistics:
    return Statistics(
        users=user_figures(session, now),
        upcoming=upcoming_figures(session, now),
        past=past_figures(session, now),
        faq=faq_figures(session, now, zone),
        broadcasts=broadcast_figures(session),
    )


def signups_over_time(session: Session, activity_ids: list[int]) -> dict[int, list[datetime]]:
    """When each current seat of these activities was taken, in order (for the chart of
    cumulative sign-ups)."""
    rows = session.execute(
        select(Registration.activity_id, Registration.registered_at)
        .where(
            Registration.activity_id.in_(activity_ids),
            Registration.status == RegistrationStatus.REGISTERED,
        )
        .order_by(Registration.registered_at)
    ).all()
    result: dict[int, list[datetime]] = {a: [] for a in activity_ids}
    for activity_id, registered_at in rows:
        result[activity_id].append(registered_at)
    return result


def signups_per_day(
    session: Session, activity_ids: list[int], zone: tzinfo
) -> dict[int, Counter[date]]:
    """Seats taken per local day, per activity: what the chart draws. Counted by the
    database (160,000 seats at scale would otherwise each be read and converted here)."""
    result: dict[int, Counter[date]] = {a: Counter() for a in activity_ids}
    if not activity_ids:
        return result
    seats = (
        Registration.activity_id.in_(activity_ids),
        Registration.status == RegistrationStatus.REGISTERED,
    )
    first, last = session.execute(
        select(func.min(Registration.registered_at), func.max(Registration.registered_at)).where(
            *seats
        )
    ).one()
    if first is None:
        return result
    day = _local_day(session, Registration.registered_at.expression, _offsets(zone, first, last))
    rows = session.execute(
        select(Registration.activity_id, day, func.count())
        .where(*seats)
        .group_by(Registration.activity_id, day)
    )
    for activity_id, local_day, count in rows:
        if isinstance(local_day, str):  # SQLite's date() is text
            local_day = date.fromisoformat(local_day)
        result[activity_id][local_day] += int(count)
    return result


def _offsets(zone: tzinfo, first: datetime, last: datetime) -> list[tuple[datetime, int]]:
    """The zone's UTC offset in minutes from first to last: (from this moment on, offset).
    Daylight saving changes it at most once a day; the moment is found to the minute."""

    def offset(moment: datetime) -> int:
        shift = moment.astimezone(zone).utcoffset()
        return int(shift.total_seconds() // 60) if shift is not None else 0

    start = first.replace(second=0, microsecond=0)
    changes = [(start, offset(start))]
    day = start
    while day < last:
        following = day + timedelta(days=1)
        if offset(following) != changes[-1][1]:
            low, high = 0, 24 * 60  # minutes after `day`: old offset at low, new at high
            while high - low > 1:
                middle = (low + high) // 2
                if offset(day + timedelta(minutes=middle)) == changes[-1][1]:
                    low = middle
                else:
                    high = middle
            moment = day + timedelta(minutes=high)
            changes.append((moment, offset(moment)))
        day = following
    return changes


def _local_day(
    session: Session, moment: ColumnElement[datetime], offsets: list[tuple[datetime, int]]
) -> ColumnElement[Any]:
    """The local date of a UTC column, given the zone's offsets over its range."""
    shift: ColumnElement[int] = literal(offsets[-1][1])
    if len(offsets) > 1:
        shift = case(
            *(
                (moment < since, minutes)
                for (since, _), (_, minutes) in zip(offsets[1:], offsets, strict=False)
            ),
            else_=offsets[-1][1],
        )
    if session.get_bind().dialect.name == "sqlite":
        # Stored as UTC text; date() takes a modifier such as "60 minutes".
        return func.date(moment, func.printf("%d minutes", shift))
    return cast(func.timezone("UTC", moment) + func.make_interval(0, 0, 0, 0, 0, shift), Date)
