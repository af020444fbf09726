"""Registration rules: capacity, waiting list, offers, cancellation. Enforced in the database.

Every function runs inside the caller's transaction. `register` locks the activity row first
(SELECT ... FOR UPDATE on PostgreSQL; on SQLite every transaction takes the write lock at
BEGIN), so counting the seats and taking one happen together and two people can never both
get the last seat. The unique constraint on (activity, user) stops double sign-ups even if
two taps race.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.activities import ActivityInfo, get_activity_by_id
from storage.models import Activity, OutboxMessage, Profile, Registration
from storage.outbox import OutboxKind, drop_open, owe, owe_calendar_cancel, plan_reminders
from storage.vocabulary import (
    ACTIVE,
    SEAT_HOLDING,
    Audience,
    CancelReason,
    RegistrationStatus,
    Role,
    Sector,
    Status,
)


class Outcome(StrEnum):
    REGISTERED = "registered"
    WAITING = "waiting"
    FULL = "full"  # would have to wait, and the user did not ask for the waiting list
    ALREADY_REGISTERED = "already_registered"
    ALREADY_WAITING = "already_waiting"
    NOT_FOUND = "not_found"
    CANCELLED_ACTIVITY = "cancelled_activity"
    NOT_OPEN_YET = "not_open_yet"
    CLOSED = "closed"
    PAST = "past"
    # An example activity (`sample: true`) is not real: only the offline demo signs people up.
    EXAMPLE_ONLY = "example_only"
    # The activity is strictly for the other audience (`audience_strict`), e.g. a parent
    # signing up for a masterclass only for professionals.
    WRONG_AUDIENCE = "wrong_audience"


@dataclass(frozen=True)
class SignupDetails:
    name: str
    role: Role
    sector: Sector | None
    email: str | None
    question: str | None


@dataclass(frozen=True)
class SignupResult:
    outcome: Outcome
    activity: ActivityInfo | None = None
    registration_id: int | None = None
    position: int | None = None  # place in the waiting list, 1 = next in line


@dataclass(frozen=True)
class ChangeResult:
    ok: bool
    reason: str = ""
    activity: ActivityInfo | None = None


def audience_admits(audience: str, role: Role) -> bool:
    """Whether an activity for `audience` is meant for someone signing up as `role`."""
    wanted = {Audience.OUDERS: Role.OUDER, Audience.PROFESSIONALS: Role.PROFESSIONAL}
    return audience not in wanted or wanted[Audience(audience)] == role


def _locked_activity(session: Session, activity_id: int) -> Activity | None:
    return session.scalars(
        select(Activity).where(Activity.id == activity_id).with_for_update()
    ).one_or_none()


def _taken(session: Session, activity_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                Registration.activity_id == activity_id, Registration.status.in_(SEAT_HOLDING)
            )
        )
        or 0
    )


def waiting_position(session: Session, registration: Registration) -> int:
    ahead = session.scalar(
        select(func.count()).where(
            Registration.activity_id == registration.activity_id,
            Registration.status == RegistrationStatus.WAITING,
            or_(
                Registration.queued_at < registration.queued_at,
                and_(
                    Registration.queued_at == registration.queued_at,
                    Registration.id < registration.id,
                ),
            ),
        )
    )
    return int(ahead or 0) + 1


def _own(session: Session, activity_id: int, user_id: int) -> Registration | None:
    return session.scalars(
        select(Registration).where(
            Registration.activity_id == activity_id, Registration.user_id == user_id
        )
    ).one_or_none()


def availability(
    session: Session,
    activity: ActivityInfo | None,
    user_id: int,
    now: datetime,
    *,
    examples_allowed: bool = False,
    role: Role | None = None,
) -> SignupResult:
    """What would happen if the user signed up now (nothing is written).

    `examples_allowed` only in the offline demo: elsewhere nobody may leave their name for
    an activity that does not exist. With a `role`, an activity strictly for the other
    audience is refused (WRONG_AUDIENCE); without one, that is not checked yet."""
    if activity is None:
        return SignupResult(Outcome.NOT_FOUND)
    if activity.is_sample and not examples_allowed:
        return SignupResult(Outcome.EXAMPLE_ONLY, activity)
    if activity.status == Status.CANCELLED:
        return SignupResult(Outcome.CANCELLED_ACTIVITY, activity)
    if activity.status != Status.PUBLISHED:
        return SignupResult(Outcome.NOT_FOUND)
    if now >= activity.starts_at:
        return SignupResult(Outcome.PAST, activity)
    if activity.registration_opens_at and now < activity.registration_opens_at:
        return SignupResult(Outcome.NOT_OPEN_YET, activity)
    if now >= activity.closes_at:
        return SignupResult(Outcome.CLOSED, activity)
    own = _own(session, activity.id, user_id)
    if own is not None and own.status in SEAT_HOLDING:
        return SignupResult(Outcome.ALREADY_REGISTERED, activity, own.id)
    if own is not None and own.status == RegistrationStatus.WAITING:
        return SignupResult(
            Outcome.ALREADY_WAITING, activity, own.id, waiting_position(session, own)
        )
    if (
        role is not None
        and activity.audience_strict
        and not audience_admits(activity.audience, role)
    ):
        return SignupResult(Outcome.WRONG_AUDIENCE, activity)
    if activity.capacity is not None and activity.places_left == 0:
        return SignupResult(Outcome.FULL, activity)
    return SignupResult(Outcome.REGISTERED, activity)


def register(
    session: Session,
    activity_id: int,
    user_id: int,
    details: SignupDetails,
    now: datetime,
    *,
    join_waitlist: bool,
    examples_allowed: bool = False,
    join_link_before: timedelta | None = None,
) -> SignupResult:
    """Take a seat, or a place on the waiting list if full and `join_waitlist`.

    `join_link_before`: when an online activity's meeting link is sent (None: never)."""
    locked = _locked_activity(session, activity_id)
    if locked is None:
        return SignupResult(Outcome.NOT_FOUND)
    activity = get_activity_by_id(session, activity_id)
    check = availability(
        session, activity, user_id, now, examples_allowed=examples_allowed, role=details.role
    )
    if check.outcome not in (Outcome.REGISTERED, Outcome.FULL):
        return check
    full = locked.capacity is not None and _taken(session, activity_id) >= locked.capacity
    if full and not join_waitlist:
        return SignupResult(Outcome.FULL, activity)
    status = RegistrationStatus.WAITING if full else RegistrationStatus.REGISTERED
    registration = _own(session, activity_id, user_id)
    if registration is None:
        registration = Registration(activity_id=activity_id, user_id=user_id)
        session.add(registration)
    registration.name = details.name
    registration.role = details.role
    registration.sector = details.sector
    registration.email = details.email
    registration.question = details.question
    registration.status = status
    registration.registered_at = now
    registration.queued_at = now
    registration.offer_expires_at = None
    registration.consent_at = now
    registration.updated_at = now
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        # A parallel tap of the same user won the race: report what they already have.
        return SignupResult(Outcome.ALREADY_REGISTERED, activity)
    save_profile(session, user_id, details)
    if full:
        _owe(session, registration, OutboxKind.WAITLISTED, locked, now)
    else:
        confirm_seat(session, locked, registration, OutboxKind.CONFIRMATION, now, join_link_before)
    position = waiting_position(session, registration) if full else None
    return SignupResult(
        Outcome.WAITING if full else Outcome.REGISTERED,
        get_activity_by_id(session, activity_id),
        registration.id,
        position,
    )


def _owe(
    session: Session,
    registration: Registration,
    kind: OutboxKind,
    activity: Activity,
    now: datetime,
) -> None:
    owe(
        session,
        registration.user_id,
        kind,
        now,
        activity_id=activity.id,
        registration_id=registration.id,
    )


def confirm_seat(
    session: Session,
    activity: Activity,
    registration: Registration,
    kind: OutboxKind,
    now: datetime,
    join_link_before: timedelta | None = None,
) -> None:
    """A seat was taken: owe its confirmation, its calendar file, its reminders and (online)
    its meeting link."""
    _owe(session, registration, kind, activity, now)
    _owe(session, registration, OutboxKind.CALENDAR, activity, now)
    plan_reminders(session, activity, registration, now, join_link_before)


def fill_free_seats(
    session: Session,
    activity_id: int,
    now: datetime,
    join_link_before: timedelta | None = None,
) -> list[int]:
    """Move people up from the waiting list while seats are free. Returns who moved up."""
    activity = _locked_activity(session, activity_id)
    if activity is None or activity.status != Status.PUBLISHED or now >= activity.starts_at:
        return []
    promoted: list[int] = []
    while activity.capacity is None or _taken(session, activity_id) < activity.capacity:
        first = session.scalars(
            select(Registration)
            .where(
                Registration.activity_id == activity_id,
                Registration.status == RegistrationStatus.WAITING,
            )
            .order_by(Registration.queued_at, Registration.id)
            .limit(1)
        ).first()
        if first is None:
            break
        first.updated_at = now
        if activity.waitlist_mode == "offer":
            first.status = RegistrationStatus.OFFERED
            first.offer_expires_at = min(
                now + timedelta(hours=activity.offer_hours), activity.starts_at
            )
            session.flush()
            _owe(session, first, OutboxKind.OFFERED, activity, now)
        else:
            first.status = RegistrationStatus.REGISTERED
            first.registered_at = now
            session.flush()
            confirm_seat(session, activity, first, OutboxKind.PROMOTED, now, join_link_before)
        promoted.append(first.user_id)
    return promoted


def _own_by_id(session: Session, registration_id: int, user_id: int) -> Registration | None:
    registration = session.get(Registration, registration_id)
    if registration is None or registration.user_id != user_id:
        return None
    return registration


def cancel_registration(
    session: Session,
    registration_id: int,
    user_id: int,
    now: datetime,
    join_link_before: timedelta | None = None,
) -> ChangeResult:
    """Give up a seat, a waiting-list place or an offer; the freed seat goes to the next
    (`join_link_before` is for their meeting link, see `register`)."""
    registration = _own_by_id(session, registration_id, user_id)
    if registration is None or registration.status not in ACTIVE:
        return ChangeResult(False, "not_active")
    activity = _locked_activity(session, registration.activity_id)
    assert activity is not None
    if now >= activity.starts_at and registration.status in SEAT_HOLDING:
        return ChangeResult(False, "started")
    had_seat = registration.status == RegistrationStatus.REGISTERED
    registration.status = RegistrationStatus.CANCELLED
    registration.cancel_reason = CancelReason.USER
    registration.offer_expires_at = None
    registration.updated_at = now
    session.flush()
    drop_open(session, now, registration_id=registration.id)
    if had_seat:
        owe_calendar_cancel(session, activity, registration, now)
    fill_free_seats(session, registration.activity_id, now, join_link_before)
    return ChangeResult(True, activity=get_activity_by_id(session, registration.activity_id))


def claim_offer(
    session: Session,
    registration_id: int,
    user_id: int,
    now: datetime,
    join_link_before: timedelta | None = None,
) -> ChangeResult:
    registration = _own_by_id(session, registration_id, user_id)
    if registration is None or registration.status != RegistrationStatus.OFFERED:
        return ChangeResult(False, "no_offer")
    if registration.offer_expires_at is not None and now >= registration.offer_expires_at:
        return ChangeResult(False, "expired")
    registration.status = RegistrationStatus.REGISTERED
    registration.registered_at = now
    registration.offer_expires_at = None
    registration.updated_at = now
    session.flush()
    activity = session.get(Activity, registration.activity_id)
    assert activity is not None
    drop_open(session, now, registration_id=registration.id, kinds=(OutboxKind.OFFERED,))
    confirm_seat(session, activity, registration, OutboxKind.CONFIRMATION, now, join_link_before)
    return ChangeResult(True, activity=get_activity_by_id(session, registration.activity_id))


def expire_offers(session: Session, now: datetime) -> list[int]:
    """Offers past their deadline lapse; the seat is offered to the next in line."""
    expired = list(
        session.scalars(
            select(Registration).where(
                Registration.status == RegistrationStatus.OFFERED,
                Registration.offer_expires_at <= now,
            )
        )
    )
    activities: set[int] = set()
    for registration in expired:
        registration.status = RegistrationStatus.CANCELLED
        registration.cancel_reason = CancelReason.OFFER_EXPIRED
        registration.updated_at = now
        drop_open(session, now, registration_id=registration.id)
        owe(
            session,
            registration.user_id,
            OutboxKind.OFFER_EXPIRED,
            now,
            activity_id=registration.activity_id,
            registration_id=registration.id,
        )
        activities.add(registration.activity_id)
    session.flush()
    for activity_id in sorted(activities):
        fill_free_seats(session, activity_id, now)
    return [r.user_id for r in expired]


@dataclass(frozen=True)
class UserRegistration:
    registration_id: int
    activity: ActivityInfo
    status: str
    position: int | None
    offer_expires_at: datetime | None
    # When the seat was taken and when the place last changed (a cancellation): a calendar
    # file's SEQUENCE grows with them (core/calendar.py).
    registered_at: datetime | None = None
    updated_at: datetime | None = None


def user_registrations(session: Session, user_id: int, now: datetime) -> list[UserRegistration]:
    rows = session.scalars(
        select(Registration)
        .join(Activity, Activity.id == Registration.activity_id)
        .where(
            Registration.user_id == user_id,
            Registration.status.in_(ACTIVE),
            Activity.ends_at > now,
        )
        .order_by(Activity.starts_at)
    ).all()
    result = []
    for row in rows:
        activity = get_activity_by_id(session, row.activity_id)
        assert activity is not None
        position = (
            waiting_position(session, row) if row.status == RegistrationStatus.WAITING else None
        )
        result.append(_user_registration(row, activity, position))
    return result


def get_user_registration(
    session: Session, registration_id: int, user_id: int
) -> UserRegistration | None:
    row = _own_by_id(session, registration_id, user_id)
    if row is None:
        return None
    activity = get_activity_by_id(session, row.activity_id)
    assert activity is not None
    position = waiting_position(session, row) if row.status == RegistrationStatus.WAITING else None
    return _user_registration(row, activity, position)


def _user_registration(
    row: Registration, activity: ActivityInfo, position: int | None
) -> UserRegistration:
    return UserRegistration(
        row.id,
        activity,
        row.status,
        position,
        row.offer_expires_at,
        row.registered_at,
        row.updated_at,
    )


def get_user_registration_for(
    session: Session, activity_id: int, user_id: int
) -> UserRegistration | None:
    """The user's active place (seat, offer or waiting) for an activity, if any."""
    row = _own(session, activity_id, user_id)
    if row is None or row.status not in ACTIVE:
        return None
    return get_user_registration(session, row.id, user_id)


def save_profile(session: Session, user_id: int, details: SignupDetails) -> None:
    profile = session.get(Profile, user_id)
    if profile is None:
        profile = Profile(user_id=user_id)
        session.add(profile)
    profile.name = details.name
    profile.role = details.role
    profile.sector = details.sector
    profile.email = details.email


def get_profile(session: Session, user_id: int) -> SignupDetails | None:
    profile = session.get(Profile, user_id)
    if profile is None:
        return None
    sector = Sector(profile.sector) if profile.sector else None
    return SignupDetails(profile.name, Role(profile.role), sector, profile.email, None)


@dataclass(frozen=True)
class ExportRow:
    name: str
    role: str
    sector: str | None
    email: str | None
    question: str | None
    status: str
    registered_at: datetime
    position: int | None
    attended: bool | None = None
    user_id: int = 0
    id: int = 0


def export_registrations(session: Session, slug: str) -> list[ExportRow] | None:
    activity_id = session.scalar(select(Activity.id).where(Activity.slug == slug))
    return None if activity_id is None else _export_rows(session, activity_id)


def export_registrations_by_id(session: Session, activity_id: int) -> list[ExportRow] | None:
    found = session.scalar(select(Activity.id).where(Activity.id == activity_id))
    return None if found is None else _export_rows(session, activity_id)


def _export_rows(session: Session, activity_id: int) -> list[ExportRow]:
    """Seats first, then the rest in the order they queued: the waiting list's places are
    counted along the way (one statement, not one count per waiting person)."""
    rows = session.execute(
        select(
            Registration.name,
            Registration.role,
            Registration.sector,
            Registration.email,
            Registration.question,
            Registration.status,
            Registration.registered_at,
            Registration.attended,
            Registration.user_id,
            Registration.id,
        )
        .where(Registration.activity_id == activity_id)
        .order_by(
            Registration.status != RegistrationStatus.REGISTERED,
            Registration.queued_at,
            Registration.id,
        )
    )
    result = []
    waiting = 0
    for name, role, sector, email, question, status, registered_at, attended, user, id_ in rows:
        position = None
        if status == RegistrationStatus.WAITING:
            # The same place waiting_position gives: waiting rows ahead by (queued_at, id).
            waiting += 1
            position = waiting
        result.append(
            ExportRow(
                name,
                role,
                sector,
                email,
                question,
                status,
                registered_at,
                position,
                attended,
                user,
                id_,
            )
        )
    return result


@dataclass(frozen=True)
class Turnout:
    """Who came to an activity: registered seats, and of those present / absent / not checked."""

    registered: int
    present: int
    absent: int
    unknown: int


def _seated(session: Session, activity_id: int) -> list[Registration]:
    return list(
        session.scalars(
            select(Registration)
            .where(
                Registration.activity_id == activity_id,
                Registration.status == RegistrationStatus.REGISTERED,
            )
            .order_by(Registration.name, Registration.id)
        )
    )


def turnout(session: Session, activity_id: int) -> Turnout:
    seated = _seated(session, activity_id)
    return Turnout(
        registered=len(seated),
        present=sum(1 for r in seated if r.attended is True),
        absent=sum(1 for r in seated if r.attended is False),
        unknown=sum(1 for r in seated if r.attended is None),
    )


def no_shows(session: Session, activity_id: int, now: datetime) -> list[str]:
    """Names of those registered who were not marked present, once the activity has ended
    (before the end nobody is a no-show yet)."""
    activity = session.get(Activity, activity_id)
    if activity is None or activity.ends_at > now:
        return []
    return [r.name for r in _seated(session, activity_id) if r.attended is not True]


@dataclass(frozen=True)
class DoorEntry:
    registration_id: int
    name: str
    attended: bool | None


def door_list(session: Session, activity_id: int) -> list[DoorEntry]:
    """The registered people of an activity, by name, with their check-in state."""
    return [DoorEntry(r.id, r.name, r.attended) for r in _seated(session, activity_id)]


def next_attendance(state: bool | None) -> bool | None:
    """The door toggle: not yet -> present -> absent -> not yet."""
    return True if state is None else (False if state else None)


def toggle_attendance(
    session: Session, activity_id: int, registration_id: int, now: datetime
) -> bool:
    """Move one person's check-in state on; False when the registration is not a seat of
    this activity (an old or forged button)."""
    registration = session.get(Registration, registration_id)
    if (
        registration is None
        or registration.activity_id != activity_id
        or registration.status != RegistrationStatus.REGISTERED
    ):
        return False
    registration.attended = next_attendance(registration.attended)
    registration.checked_in_at = now if registration.attended is not None else None
    return True


class CheckIn(StrEnum):
    PRESENT = "present"  # marked present now
    ALREADY = "already"  # was marked present before
    NOT_REGISTERED = "not_registered"  # no seat (waiting, cancelled, never signed up)
    UNKNOWN_CODE = "unknown_code"
    TOO_EARLY = "too_early"  # the code of a day whose door is not open yet
    ENDED = "ended"  # the code of a day (or an activity) that is over


@dataclass(frozen=True)
class CheckInResult:
    outcome: CheckIn
    activity: ActivityInfo | None = None
    opens_at: datetime | None = None  # with TOO_EARLY: from when the code works


# `<activity id>_<day code>`: the id says which activity, the day code proves the person saw
# that day's QR code (it cannot be derived without the activity's secret).
_DOOR_CODE = re.compile(r"(?P<activity>[0-9]{1,12})_(?P<code>[A-Za-z0-9_-]{12})")


def _day_code(secret: str, activity_id: int, day: date) -> str:
    mac = hmac.new(
        secret.encode(), f"checkin:{activity_id}:{day.isoformat()}".encode(), hashlib.sha256
    )
    return base64.urlsafe_b64encode(mac.digest()[:9]).decode()


def _days(activity: Activity, zone: tzinfo) -> list[date]:
    first = activity.starts_at.astimezone(zone).date()
    last = max(first, activity.ends_at.astimezone(zone).date())
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _door_opens(activity: Activity, day: date, zone: tzinfo, before: timedelta) -> datetime:
    """`before` the start on the first day, but never before that day begins."""
    midnight = datetime.combine(day, time(0), tzinfo=zone)
    return max(midnight, activity.starts_at - before)


def door_code(session: Session, activity_id: int, now: datetime, zone: tzinfo) -> str:
    """What the QR code at the door carries (t.me/<bot>?start=checkin_<door code>): a code for
    one day, today's on a day of the activity, else its first day's (to print in advance).
    It works only on that day, until the activity ends."""
    activity = session.get(Activity, activity_id)
    if activity is None:
        raise LookupError(f"no activity {activity_id}")
    if not activity.checkin_code:
        # The activity's own secret for its day codes, made on first use.
        activity.checkin_code = secrets.token_urlsafe(16)
        session.flush()
    days = _days(activity, zone)
    today = now.astimezone(zone).date()
    day = today if today in days else days[0]
    return f"{activity_id}_{_day_code(activity.checkin_code, activity_id, day)}"


def check_in_by_code(
    session: Session,
    code: str,
    user_id: int,
    now: datetime,
    zone: tzinfo,
    opens_before: timedelta,
) -> CheckInResult:
    """A scanned door code: mark this user present if they hold a seat, on the code's day
    from the door's opening until the activity ends."""
    found = _DOOR_CODE.fullmatch(code)
    activity = session.get(Activity, int(found["activity"])) if found else None
    if found is None or activity is None or not activity.checkin_code:
        return CheckInResult(CheckIn.UNKNOWN_CODE)
    day = next(
        (
            d
            for d in _days(activity, zone)
            if hmac.compare_digest(_day_code(activity.checkin_code, activity.id, d), found["code"])
        ),
        None,
    )
    if day is None:
        return CheckInResult(CheckIn.UNKNOWN_CODE)
    info = get_activity_by_id(session, activity.id)
    opens = _door_opens(activity, day, zone, opens_before)
    if now < opens:
        return CheckInResult(CheckIn.TOO_EARLY, info, opens)
    if now > activity.ends_at or now.astimezone(zone).date() > day:
        return CheckInResult(CheckIn.ENDED, info)
    registration = _own(session, activity.id, user_id)
    if registration is None or registration.status != RegistrationStatus.REGISTERED:
        return CheckInResult(CheckIn.NOT_REGISTERED, info)
    if registration.attended is True:
        return CheckInResult(CheckIn.ALREADY, info)
    registration.attended = True
    registration.checked_in_at = now
    return CheckInResult(CheckIn.PRESENT, info)


EXPORT_FIELDS = (
    "name",
    "role",
    "sector",
    "email",
    "question",
    "status",
    "waiting_position",
    "registered_at",
)


def export_records(rows: list[ExportRow], zone: tzinfo) -> list[dict[str, object]]:
    return [
        {
            "name": r.name,
            "role": r.role,
            "sector": r.sector,
            "email": r.email,
            "question": r.question,
            "status": r.status,
            "waiting_position": r.position,
            "registered_at": r.registered_at.astimezone(zone).isoformat(),
        }
        for r in rows
    ]


def spreadsheet_safe(value: object) -> str:
    """Spreadsheets run cells starting with = + - @ as formulas; a quote defuses that."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def export_csv(rows: list[ExportRow], zone: tzinfo) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    for record in export_records(rows, zone):
        writer.writerow({k: spreadsheet_safe(v) for k, v in record.items()})
    return buffer.getvalue()


def erase_registrations(
    session: Session, user_id: int, now: datetime, join_link_before: timedelta | None = None
) -> None:
    for registration in session.scalars(
        select(Registration).where(
            Registration.user_id == user_id, Registration.status.in_(ACTIVE)
        )
    ).all():
        cancel_registration(session, registration.id, user_id, now, join_link_before)
    session.execute(delete(OutboxMessage).where(OutboxMessage.user_id == user_id))
    session.execute(delete(Registration).where(Registration.user_id == user_id))
    session.execute(delete(Profile).where(Profile.user_id == user_id))


def purge_old_registrations(session: Session, keep: timedelta, now: datetime) -> int:
    old_activities = select(Activity.id).where(Activity.ends_at < now - keep)
    session.execute(delete(OutboxMessage).where(OutboxMessage.activity_id.in_(old_activities)))
    result = session.execute(
        delete(Registration).where(Registration.activity_id.in_(old_activities))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
