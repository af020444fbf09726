"""Activities: the YAML schema, idempotent upsert by slug, and read models for the agenda."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from storage.durations import parse_duration
from storage.models import Activity, Registration, User
from storage.outbox import (
    DEFAULT_REMINDER_OFFSETS,
    OutboxKind,
    Priority,
    drop_open,
    offsets_text,
    owe,
    owe_calendar_cancel,
    replan_reminders,
)
from storage.vocabulary import (
    ACTIVE,
    SEAT_HOLDING,
    Audience,
    CancelReason,
    Kind,
    RegistrationStatus,
    Status,
    WaitlistMode,
)
from storage.yaml_files import load_yaml


class Localised(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    nl: str = Field(min_length=1, max_length=200)
    en: str = Field(min_length=1, max_length=200)


class LocalisedText(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    nl: str = ""
    en: str = ""


class ActivitySpec(BaseModel):
    """One activity as written in the YAML file. Naive times are in the configured zone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    kind: Kind
    title: Localised
    description: LocalisedText = LocalisedText()
    starts_at: datetime
    ends_at: datetime
    location: str | None = Field(default=None, max_length=300)
    online_url: str | None = Field(default=None, pattern=r"^https://", max_length=500)
    capacity: int | None = Field(default=None, ge=1)
    registration_opens_at: datetime | None = None
    registration_closes_at: datetime | None = None
    audience: Audience = Audience.IEDEREEN
    # True: only `audience` may sign up. False: others are told whom it is for, and may
    # still sign up (the organisers decide).
    audience_strict: bool = False
    status: Status = Status.PUBLISHED
    waitlist_mode: WaitlistMode = WaitlistMode.AUTO
    offer_hours: int = Field(default=24, ge=1, le=24 * 14)
    reminders: tuple[str, ...] | None = None
    sample: bool = False

    @field_validator("reminders")
    @classmethod
    def _durations(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for item in value or ():
            parse_duration(item)
        return value

    @model_validator(mode="after")
    def _check(self) -> ActivitySpec:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        # An example may leave the place out: the announcement it follows names none.
        if not self.location and not self.online_url and not self.sample:
            raise ValueError("give a location, an online_url, or both")
        return self


class ActivityFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    activities: tuple[ActivitySpec, ...]


class ActivityFileError(Exception):
    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{path}: {p}" for p in problems))


def read_activity_file(path: Path) -> ActivityFile:
    try:
        raw: Any = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ActivityFileError(path, [f"cannot be read: {error}"]) from None
    try:
        parsed = ActivityFile.model_validate(raw)
    except ValidationError as error:
        problems = [
            ".".join(str(p) for p in e["loc"]) + ": " + str(e["msg"]).removeprefix("Value error, ")
            for e in error.errors()
        ]
        raise ActivityFileError(path, problems) from None
    slugs = [spec.slug for spec in parsed.activities]
    duplicates = sorted({s for s in slugs if slugs.count(s) > 1})
    if duplicates:
        raise ActivityFileError(path, [f"duplicate slug '{s}'" for s in duplicates])
    return parsed


def _aware(moment: datetime | None, zone: ZoneInfo) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


@dataclass(frozen=True)
class LoadReport:
    created: tuple[str, ...]
    updated: tuple[str, ...]
    unchanged: tuple[str, ...]
    cancelled: tuple[str, ...]  # newly cancelled: attendees and waiting people are told
    moved: tuple[str, ...]  # start time changed: people are told, reminders follow
    reopened: tuple[str, ...] = ()  # cancelled before, published again: people are told


def upsert_activities(
    session: Session,
    specs: tuple[ActivitySpec, ...],
    zone: ZoneInfo,
    now: datetime,
    default_reminders: Sequence[timedelta] = DEFAULT_REMINDER_OFFSETS,
    join_link_before: timedelta | None = None,
    keep: Mapping[str, Collection[str]] | None = None,
) -> LoadReport:
    """Create or update by slug. Activities missing from the file are left alone; `keep`
    names, per slug, columns left as they are (see chat_conflicts).

    Whoever is affected by a change is owed a message in this same transaction: a move, a
    cancellation, a re-opening. `join_link_before`: when an online activity's meeting link
    is sent before its start (reminders.join_link_before in config; None: never)."""
    created: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    cancelled: list[str] = []
    moved: list[str] = []
    reopened: list[str] = []
    for spec in specs:
        values = _spec_values(spec, zone, default_reminders)
        if keep and spec.slug in keep:
            # Fields an organiser changed in chat, which this load must not overwrite.
            values = {k: v for k, v in values.items() if k not in keep[spec.slug]}
        activity = session.scalars(
            select(Activity).where(Activity.slug == spec.slug)
        ).one_or_none()
        if activity is None:
            session.add(Activity(slug=spec.slug, updated_at=now, **values))
            created.append(spec.slug)
            continue
        changed = {k: v for k, v in values.items() if getattr(activity, k) != v}
        if not changed:
            unchanged.append(spec.slug)
            continue
        was = activity.status
        old_start = activity.starts_at
        for key, value in changed.items():
            setattr(activity, key, value)
        activity.updated_at = now
        session.flush()
        updated.append(spec.slug)
        if activity.status == Status.CANCELLED and was != Status.CANCELLED:
            cancel_activity(session, activity, now)
            cancelled.append(spec.slug)
            continue
        if was == Status.CANCELLED and activity.status == Status.PUBLISHED:
            reopen_activity(session, activity, now)
            reopened.append(spec.slug)
        if "starts_at" in changed and activity.status == Status.PUBLISHED:
            move_activity(session, activity, old_start, now, join_link_before)
            moved.append(spec.slug)
        elif changed.keys() & {"reminder_offsets", "online_url"}:
            # A meeting link added (or removed) later is sent (or not) like a new reminder.
            replan_reminders(session, activity, now, join_link_before)
    session.flush()
    return LoadReport(
        tuple(created),
        tuple(updated),
        tuple(unchanged),
        tuple(cancelled),
        tuple(moved),
        tuple(reopened),
    )


def _spec_values(
    spec: ActivitySpec, zone: ZoneInfo, default_reminders: Sequence[timedelta]
) -> dict[str, Any]:
    """A file entry as the Activity columns it sets."""
    values: dict[str, Any] = {
        "kind": spec.kind.value,
        "title_nl": spec.title.nl,
        "title_en": spec.title.en,
        "description_nl": spec.description.nl,
        "description_en": spec.description.en,
        "starts_at": _aware(spec.starts_at, zone),
        "ends_at": _aware(spec.ends_at, zone),
        "location": spec.location,
        "online_url": spec.online_url,
        "capacity": spec.capacity,
        "registration_opens_at": _aware(spec.registration_opens_at, zone),
        "registration_closes_at": _aware(spec.registration_closes_at, zone),
        "audience": spec.audience.value,
        "audience_strict": spec.audience_strict,
        "status": spec.status.value,
        "waitlist_mode": spec.waitlist_mode.value,
        "offer_hours": spec.offer_hours,
        "reminder_offsets": offsets_text(
            spec.reminders if spec.reminders is not None else default_reminders
        ),
        "is_sample": spec.sample,
    }
    return values


def _involved(session: Session, activity: Activity) -> list[Registration]:
    return list(
        session.scalars(
            select(Registration).where(
                Registration.activity_id == activity.id, Registration.status.in_(ACTIVE)
            )
        )
    )


def cancel_activity(session: Session, activity: Activity, now: datetime) -> int:
    """Every attendee and everyone waiting is told once; their places end with it, so
    /mijnaanmeldingen no longer offers them, and nothing else owed about it is sent."""
    activity.status = Status.CANCELLED
    drop_open(session, now, activity_id=activity.id)
    people = _involved(session, activity)
    for registration in people:
        had_seat = registration.status == RegistrationStatus.REGISTERED
        registration.status = RegistrationStatus.CANCELLED
        registration.cancel_reason = CancelReason.ACTIVITY
        registration.offer_expires_at = None
        registration.updated_at = now
        owe(
            session,
            registration.user_id,
            OutboxKind.ACTIVITY_CANCELLED,
            now,
            activity_id=activity.id,
            registration_id=registration.id,
        )
        if had_seat:
            # After the notice (same priority, later id): the event leaves their calendar.
            owe_calendar_cancel(session, activity, registration, now, Priority.NOTICE)
    return len(people)


def reopen_activity(session: Session, activity: Activity, now: datetime) -> int:
    """Cancelled, then on again: those whose place ended with the cancellation are told,
    and may sign up again; seats are not silently given back."""
    people = session.scalars(
        select(Registration).where(
            Registration.activity_id == activity.id,
            Registration.status == RegistrationStatus.CANCELLED,
            Registration.cancel_reason == CancelReason.ACTIVITY,
        )
    ).all()
    for registration in people:
        owe(
            session,
            registration.user_id,
            OutboxKind.ACTIVITY_REOPENED,
            now,
            activity_id=activity.id,
            registration_id=registration.id,
        )
    return len(people)


def move_activity(
    session: Session,
    activity: Activity,
    old_start: datetime,
    now: datetime,
    join_link_before: timedelta | None = None,
) -> int:
    """A new date: everyone involved gets one notice (attendees a new calendar file too),
    and reminders (and an online activity's meeting link) are planned again for the new
    time."""
    drop_open(
        session,
        now,
        activity_id=activity.id,
        kinds=(OutboxKind.ACTIVITY_MOVED, OutboxKind.CALENDAR),
    )
    people = _involved(session, activity)
    for registration in people:
        kinds = [OutboxKind.ACTIVITY_MOVED]
        if registration.status == RegistrationStatus.REGISTERED:
            kinds.append(OutboxKind.CALENDAR)
        for kind in kinds:
            owe(
                session,
                registration.user_id,
                kind,
                now,
                activity_id=activity.id,
                registration_id=registration.id,
                payload={"from": old_start.isoformat()},
                # The new file after the notice that explains it: same priority, later id.
                priority=Priority.NOTICE,
            )
    replan_reminders(session, activity, now, join_link_before)
    return len(people)


@dataclass(frozen=True)
class MoveReach:
    """Who hears of a move: everyone involved the bot can reach, and of them the seat
    holders, who also get the new calendar file (the waiting list and offers get none)."""

    told: int
    calendars: int


def move_reach(session: Session, activity_id: int) -> MoveReach:
    """Counted as the outbox will deliver: a user who blocked the bot gets nothing."""
    rows = session.execute(
        select(Registration.status, func.count())
        .join(User, User.telegram_id == Registration.user_id, isouter=True)
        .where(
            Registration.activity_id == activity_id,
            Registration.status.in_(ACTIVE),
            or_(User.blocked.is_(None), User.blocked.is_(False)),
        )
        .group_by(Registration.status)
    ).all()
    counts = {status: int(count) for status, count in rows}
    return MoveReach(
        told=sum(counts.values()), calendars=counts.get(RegistrationStatus.REGISTERED, 0)
    )


@dataclass(frozen=True)
class ActivityInfo:
    id: int
    slug: str
    kind: str
    title_nl: str
    title_en: str
    description_nl: str
    description_en: str
    starts_at: datetime
    ends_at: datetime
    location: str | None
    online_url: str | None
    capacity: int | None
    registration_opens_at: datetime | None
    registration_closes_at: datetime | None
    audience: str
    audience_strict: bool
    status: str
    waitlist_mode: str
    offer_hours: int
    reminder_offsets: str | None
    is_sample: bool
    updated_at: datetime  # last change of the activity itself (a calendar file's SEQUENCE)
    taken: int  # seats registered or held by an open offer
    waiting: int

    def title(self, language: str) -> str:
        return self.title_en if language == "en" else self.title_nl

    def description(self, language: str) -> str:
        return (self.description_en if language == "en" else self.description_nl) or ""

    @property
    def places_left(self) -> int | None:
        return None if self.capacity is None else max(0, self.capacity - self.taken)

    @property
    def closes_at(self) -> datetime:
        return self.registration_closes_at or self.starts_at

    def open_for_registration(self, now: datetime) -> bool:
        opens = self.registration_opens_at
        return (
            self.status == Status.PUBLISHED
            and (opens is None or opens <= now)
            and now < self.closes_at
            and now < self.starts_at
        )


def _counts(session: Session, activity_ids: list[int]) -> dict[tuple[int, str], int]:
    if not activity_ids:
        return {}
    rows = session.execute(
        select(Registration.activity_id, Registration.status, func.count())
        .where(Registration.activity_id.in_(activity_ids))
        .group_by(Registration.activity_id, Registration.status)
    ).all()
    return {(activity_id, status): count for activity_id, status, count in rows}


def _info(activity: Activity, counts: dict[tuple[int, str], int]) -> ActivityInfo:
    return ActivityInfo(
        id=activity.id,
        slug=activity.slug,
        kind=activity.kind,
        title_nl=activity.title_nl,
        title_en=activity.title_en,
        description_nl=activity.description_nl,
        description_en=activity.description_en,
        starts_at=activity.starts_at,
        ends_at=activity.ends_at,
        location=activity.location,
        online_url=activity.online_url,
        capacity=activity.capacity,
        registration_opens_at=activity.registration_opens_at,
        registration_closes_at=activity.registration_closes_at,
        audience=activity.audience,
        audience_strict=activity.audience_strict,
        status=activity.status,
        waitlist_mode=activity.waitlist_mode,
        offer_hours=activity.offer_hours,
        reminder_offsets=activity.reminder_offsets,
        is_sample=activity.is_sample,
        updated_at=activity.updated_at,
        taken=sum(counts.get((activity.id, s), 0) for s in SEAT_HOLDING),
        waiting=counts.get((activity.id, RegistrationStatus.WAITING), 0),
    )


def get_activity(session: Session, slug: str) -> ActivityInfo | None:
    activity = session.scalars(select(Activity).where(Activity.slug == slug)).one_or_none()
    if activity is None:
        return None
    return _info(activity, _counts(session, [activity.id]))


def get_activity_by_id(session: Session, activity_id: int) -> ActivityInfo | None:
    activity = session.get(Activity, activity_id)
    if activity is None:
        return None
    return _info(activity, _counts(session, [activity.id]))


def upcoming_activities(
    session: Session, now: datetime, kind: str | None = None
) -> list[ActivityInfo]:
    """Published activities that have not ended, soonest first."""
    query = select(Activity).where(Activity.status == Status.PUBLISHED, Activity.ends_at > now)
    if kind:
        query = query.where(Activity.kind == kind)
    activities = list(session.scalars(query.order_by(Activity.starts_at, Activity.slug)))
    counts = _counts(session, [a.id for a in activities])
    return [_info(a, counts) for a in activities]


@dataclass(frozen=True)
class AgendaPage:
    activities: list[ActivityInfo]
    page: int  # the page shown (0-based), within 0..pages-1
    pages: int  # 0: nothing upcoming


def _upcoming_query(now: datetime, kind: str | None) -> Any:
    query = select(Activity).where(Activity.status == Status.PUBLISHED, Activity.ends_at > now)
    return query.where(Activity.kind == kind) if kind else query


def upcoming_page(
    session: Session, now: datetime, page: int, size: int, kind: str | None = None
) -> AgendaPage:
    """One page of `upcoming_activities` (a page past the end shows the last): registrations
    are counted for the activities shown only, through (activity_id, status)."""
    query = _upcoming_query(now, kind)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = (total + size - 1) // size
    if not pages:
        return AgendaPage([], 0, 0)
    page = min(max(page, 0), pages - 1)
    shown = list(
        session.scalars(
            query.order_by(Activity.starts_at, Activity.slug).offset(page * size).limit(size)
        )
    )
    counts = _counts(session, [a.id for a in shown])
    return AgendaPage([_info(a, counts) for a in shown], page, pages)


def upcoming_kinds(session: Session, now: datetime) -> set[str]:
    """The kinds of the upcoming activities (the agenda's filter buttons), nothing counted."""
    query = _upcoming_query(now, None).with_only_columns(Activity.kind).distinct()
    return set(session.scalars(query))


def chat_changes(activity: Activity) -> set[str]:
    """The fields an organiser changed in chat (Activity.changed_in_chat, a JSON list)."""
    if not activity.changed_in_chat:
        return set()
    try:
        names = json.loads(activity.changed_in_chat)
    except ValueError:
        return set()
    return {str(name) for name in names} if isinstance(names, list) else set()


def _changed_in_chat(column: str, changed: set[str]) -> bool:
    # "title" in the list covers both title_nl and title_en.
    return column in changed or column.rsplit("_", 1)[0] in changed


@dataclass(frozen=True)
class ChatConflict:
    slug: str
    field: str  # the Activity column
    in_chat: object
    in_file: object


def chat_conflicts(
    session: Session,
    specs: Sequence[ActivitySpec],
    zone: ZoneInfo,
    default_reminders: Sequence[timedelta] = DEFAULT_REMINDER_OFFSETS,
) -> list[ChatConflict]:
    """Per activity of the file: the fields whose file value differs from the database and
    that an organiser changed in chat. `events load` keeps those unless forced."""
    conflicts: list[ChatConflict] = []
    for spec in specs:
        activity = session.scalars(
            select(Activity).where(Activity.slug == spec.slug)
        ).one_or_none()
        if activity is None:
            continue
        changed = chat_changes(activity)
        if not changed:
            continue
        for column, value in _spec_values(spec, zone, default_reminders).items():
            current = getattr(activity, column)
            if current != value and _changed_in_chat(column, changed):
                conflicts.append(ChatConflict(spec.slug, column, current, value))
    return conflicts


def forget_chat_changes(session: Session, slugs: Collection[str]) -> None:
    """After a forced load the file is the truth again for these activities."""
    for activity in session.scalars(select(Activity).where(Activity.slug.in_(list(slugs)))):
        activity.changed_in_chat = None


# -- made and managed in chat by organisers ---------------------------------------------------

MAX_CHAT_SLUG = 57
# What an organiser can change in chat; each such change is remembered in changed_in_chat
# (so `mao-bot events load` does not overwrite it silently).
CHAT_FIELDS = (
    "kind",
    "title_nl",
    "title_en",
    "description_nl",
    "description_en",
    "starts_at",
    "ends_at",
    "location",
    "online_url",
    "capacity",
    "audience",
    "waitlist_mode",
    "registration_closes_at",
    "status",
)


def _slug_base(title: str) -> str:
    import unicodedata

    plain = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    words = "".join(c if c.isalnum() else "-" for c in plain.lower()).split("-")
    return "-".join(w for w in words if w) or "activiteit"


def make_slug(session: Session, title: str, day: datetime) -> str:
    """ "Fieldlab Samen" on 18 May 2027 -> "fieldlab-samen-2027-05-18" (unique, at most 57
    characters, so "signup_<slug>" fits Telegram's 64-character start parameter)."""
    suffix = f"-{day:%Y-%m-%d}"
    base = _slug_base(title)
    for number in range(1, 1000):
        extra = "" if number == 1 else f"-{number}"
        room = MAX_CHAT_SLUG - len(suffix) - len(extra)
        slug = base[:room].strip("-") + suffix + extra
        taken = session.scalars(select(Activity.id).where(Activity.slug == slug)).first()
        if taken is None:
            return slug
    raise ValueError("no free slug")


def _mark_changed(activity: Activity, fields: Sequence[str]) -> None:
    known: list[str] = json.loads(activity.changed_in_chat) if activity.changed_in_chat else []
    for name in fields:
        if name not in known:
            known.append(name)
    activity.changed_in_chat = json.dumps(known)


def create_activity(
    session: Session,
    values: dict[str, Any],
    created_by: int,
    now: datetime,
    default_reminders: Sequence[timedelta] = DEFAULT_REMINDER_OFFSETS,
) -> Activity:
    """A new published activity from an organiser's chat; `values` are Activity columns
    among CHAT_FIELDS (times aware)."""
    unknown = set(values) - set(CHAT_FIELDS)
    if unknown:
        raise ValueError(f"not chat fields: {sorted(unknown)}")
    activity = Activity(
        slug=make_slug(session, values["title_nl"], values["starts_at"]),
        status=Status.PUBLISHED.value,
        created_by=created_by,
        updated_at=now,
        reminder_offsets=offsets_text(default_reminders),
        audience_strict=False,
        offer_hours=24,
        is_sample=False,
        **{"description_nl": "", "description_en": "", **values},
    )
    session.add(activity)
    session.flush()
    return activity


def update_activity(
    session: Session,
    activity_id: int,
    changes: dict[str, Any],
    now: datetime,
    join_link_before: timedelta | None = None,
) -> Activity | None:
    """An organiser's change in chat. A new start moves the activity (everyone involved is
    told once, reminders follow); a new link re-plans the meeting-link message."""
    activity = session.get(Activity, activity_id)
    if activity is None:
        return None
    changed = {k: v for k, v in changes.items() if k in CHAT_FIELDS and getattr(activity, k) != v}
    if not changed:
        return activity
    old_start = activity.starts_at
    for key, value in changed.items():
        setattr(activity, key, value)
    activity.updated_at = now
    _mark_changed(activity, list(changed))
    session.flush()
    if "starts_at" in changed and activity.status == Status.PUBLISHED:
        move_activity(session, activity, old_start, now, join_link_before)
    elif "online_url" in changed:
        replan_reminders(session, activity, now, join_link_before)
    return activity


def set_registration_closed(
    session: Session, activity_id: int, closed: bool, now: datetime
) -> Activity | None:
    return update_activity(
        session, activity_id, {"registration_closes_at": now if closed else None}, now
    )


def cancel_activity_in_chat(session: Session, activity_id: int, now: datetime) -> int | None:
    """Cancel once (a second press changes nothing); the number of people told."""
    activity = session.get(Activity, activity_id)
    if activity is None:
        return None
    if activity.status == Status.CANCELLED:
        return 0
    activity.updated_at = now
    _mark_changed(activity, ["status"])
    return cancel_activity(session, activity, now)


def reopen_activity_in_chat(session: Session, activity_id: int, now: datetime) -> int | None:
    activity = session.get(Activity, activity_id)
    if activity is None or activity.status != Status.CANCELLED:
        return None
    activity.status = Status.PUBLISHED.value
    activity.updated_at = now
    _mark_changed(activity, ["status"])
    return reopen_activity(session, activity, now)


def duplicate_activity(
    session: Session,
    activity_id: int,
    starts_at: datetime,
    ends_at: datetime,
    created_by: int,
    now: datetime,
) -> Activity | None:
    """The same activity on another date: a new slug, no registrations, no check-in code."""
    source = session.get(Activity, activity_id)
    if source is None:
        return None
    copy = Activity(
        slug=make_slug(session, source.title_nl, starts_at),
        kind=source.kind,
        title_nl=source.title_nl,
        title_en=source.title_en,
        description_nl=source.description_nl,
        description_en=source.description_en,
        starts_at=starts_at,
        ends_at=ends_at,
        location=source.location,
        online_url=source.online_url,
        capacity=source.capacity,
        audience=source.audience,
        audience_strict=source.audience_strict,
        status=Status.PUBLISHED.value,
        waitlist_mode=source.waitlist_mode,
        offer_hours=source.offer_hours,
        reminder_offsets=source.reminder_offsets,
        is_sample=source.is_sample,
        updated_at=now,
        created_by=created_by,
    )
    session.add(copy)
    session.flush()
    return copy


def organiser_activities(session: Session, now: datetime) -> list[ActivityInfo]:
    """Activities that have not ended, cancelled ones too (they can be reopened)."""
    activities = list(
        session.scalars(
            select(Activity)
            .where(Activity.ends_at > now, Activity.status != Status.DRAFT)
            .order_by(Activity.starts_at, Activity.slug)
        )
    )
    counts = _counts(session, [a.id for a in activities])
    return [_info(a, counts) for a in activities]


def recent_and_upcoming(session: Session, now: datetime, back: timedelta) -> list[ActivityInfo]:
    """Activities for organisers' lists: not ended longer than `back` ago, cancelled ones
    included (their people can still be written to), soonest first."""
    query = select(Activity).where(Activity.ends_at > now - back)
    activities = list(session.scalars(query.order_by(Activity.starts_at, Activity.slug)))
    counts = _counts(session, [a.id for a in activities])
    return [_info(a, counts) for a in activities]
