"""Everything the bot keeps about one person, gathered for /mijngegevens (GDPR article 15).

One function reads every table that holds something about a Telegram user; erase_user
(storage/privacy.py) deletes the same rows. A table that gains personal data belongs in both.
FAQ misses are not here: they are stored without who asked. For an organiser also what they
did as one: their organiser record, activities they made, FAQ additions and answers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.blocks import blocked_since
from storage.faq_additions import additions_about
from storage.inbox import Direction, MessageInfo, ThreadInfo, threads_of_user
from storage.models import (
    Activity,
    Broadcast,
    ConversationState,
    Feedback,
    InboxMessage,
    Organiser,
    OutboxMessage,
    Profile,
    Registration,
    UserData,
)
from storage.registrations import waiting_position
from storage.users import UserInfo, get_user
from storage.vocabulary import RegistrationStatus


@dataclass(frozen=True)
class ActivityRef:
    slug: str
    title_nl: str
    title_en: str
    starts_at: datetime

    def title(self, language: str) -> str:
        return self.title_en if language == "en" else self.title_nl


@dataclass(frozen=True)
class RememberedProfile:
    """The answers offered again at the next sign-up."""

    name: str
    role: str
    sector: str | None
    email: str | None


@dataclass(frozen=True)
class RegistrationRecord:
    """A registration, waiting-list place or seat offer, with what was filled in for it."""

    activity: ActivityRef
    status: str
    position: int | None  # place on the waiting list, while waiting
    cancel_reason: str | None
    name: str
    role: str
    sector: str | None
    email: str | None
    question: str | None
    registered_at: datetime
    queued_at: datetime
    offer_expires_at: datetime | None
    consent_at: datetime
    updated_at: datetime
    # At the door: None = not checked, True = present, False = absent.
    attended: bool | None = None
    checked_in_at: datetime | None = None

    @property
    def cancelled_at(self) -> datetime | None:
        # A cancelled registration is not changed afterwards: its last change is the cancel.
        return self.updated_at if self.status == RegistrationStatus.CANCELLED else None


@dataclass(frozen=True)
class MessageRecord:
    """A message the bot owed or owes this person (the outbox), without its text."""

    kind: str
    status: str
    activity: ActivityRef | None
    created_at: datetime
    due_at: datetime
    sent_at: datetime | None
    attempts: int
    last_error: str | None
    details: dict[str, Any]


@dataclass(frozen=True)
class ConversationRecord:
    """Where a flow (sign-up, announcement) stands, kept so a restart resumes it."""

    name: str
    state: object


@dataclass(frozen=True)
class BroadcastRecord:
    """An announcement this person sent as an organiser."""

    created_at: datetime
    audience: str
    status: str
    text: str


@dataclass(frozen=True)
class FeedbackRecord:
    """Stars and a comment given after an activity."""

    activity: ActivityRef
    stars: int | None
    comment: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class OrganiserRecord:
    """Added as organiser with `mao-bot admin add` (config's `admins` are not stored)."""

    added_at: datetime
    note: str | None


@dataclass(frozen=True)
class AdditionRecord:
    """A FAQ phrasing in this person's words, or one they added as organiser."""

    entry_id: str
    language: str
    question: str
    added_at: datetime
    your_words: bool  # from their own thread: it goes with them (/vergeetmij)
    added_by_you: bool


@dataclass(frozen=True)
class AnswerRecord:
    """An answer this person wrote as organiser in someone's thread."""

    thread_id: int
    text: str
    created_at: datetime


@dataclass(frozen=True)
class PersonalData:
    telegram_id: int
    user: UserInfo | None
    profile: RememberedProfile | None
    registrations: tuple[RegistrationRecord, ...]
    messages: tuple[MessageRecord, ...]
    # The bot's per-user memory (the sign-up draft), as stored.
    user_data: dict[str, Any]
    conversations: tuple[ConversationRecord, ...]
    broadcasts: tuple[BroadcastRecord, ...]
    feedback: tuple[FeedbackRecord, ...] = ()
    # Conversations with the programme office (storage/inbox.py), each with its messages.
    inbox: tuple[tuple[ThreadInfo, tuple[MessageInfo, ...]], ...] = ()
    # Blocked from the inbox by an organiser (storage/blocks.py); kept after /vergeetmij.
    blocked_since: datetime | None = None
    organiser: OrganiserRecord | None = None
    activities_created: tuple[ActivityRef, ...] = ()
    faq_additions: tuple[AdditionRecord, ...] = ()
    answers_written: tuple[AnswerRecord, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (
            self.organiser
            or self.activities_created
            or self.faq_additions
            or self.answers_written
            or self.user
            or self.profile
            or self.registrations
            or self.messages
            or self.user_data
            or self.conversations
            or self.broadcasts
            or self.feedback
            or self.inbox
            or self.blocked_since
        )

    @property
    def waiting(self) -> tuple[RegistrationRecord, ...]:
        return tuple(r for r in self.registrations if r.status == RegistrationStatus.WAITING)


def _activity_ref(activity: Activity) -> ActivityRef:
    return ActivityRef(activity.slug, activity.title_nl, activity.title_en, activity.starts_at)


def _registrations(session: Session, telegram_id: int) -> tuple[RegistrationRecord, ...]:
    rows = session.execute(
        select(Registration, Activity)
        .join(Activity, Activity.id == Registration.activity_id)
        .where(Registration.user_id == telegram_id)
        .order_by(Activity.starts_at, Registration.id)
    ).all()
    return tuple(
        RegistrationRecord(
            activity=_activity_ref(activity),
            status=row.status,
            position=(
                waiting_position(session, row)
                if row.status == RegistrationStatus.WAITING
                else None
            ),
            cancel_reason=row.cancel_reason,
            name=row.name,
            role=row.role,
            sector=row.sector,
            email=row.email,
            question=row.question,
            registered_at=row.registered_at,
            queued_at=row.queued_at,
            offer_expires_at=row.offer_expires_at,
            consent_at=row.consent_at,
            updated_at=row.updated_at,
            attended=row.attended,
            checked_in_at=row.checked_in_at,
        )
        for row, activity in rows
    )


def _messages(session: Session, telegram_id: int) -> tuple[MessageRecord, ...]:
    rows = session.execute(
        select(OutboxMessage, Activity)
        .outerjoin(Activity, Activity.id == OutboxMessage.activity_id)
        .where(OutboxMessage.user_id == telegram_id)
        .order_by(OutboxMessage.due_at, OutboxMessage.id)
    ).all()
    return tuple(
        MessageRecord(
            kind=row.kind,
            status=row.status,
            activity=_activity_ref(activity) if activity is not None else None,
            created_at=row.created_at,
            due_at=row.due_at,
            sent_at=row.sent_at,
            attempts=row.attempts,
            last_error=row.last_error,
            details=json.loads(row.payload) if row.payload else {},
        )
        for row, activity in rows
    )


def personal_data(session: Session, telegram_id: int) -> PersonalData:
    profile = session.get(Profile, telegram_id)
    stored = session.get(UserData, telegram_id)
    # PTB keys a private conversation by (chat id, user id); both are the user's id.
    conversation_key = json.dumps([telegram_id, telegram_id])
    conversations = session.scalars(
        select(ConversationState)
        .where(ConversationState.key == conversation_key)
        .order_by(ConversationState.name)
    )
    broadcasts = session.scalars(
        select(Broadcast).where(Broadcast.created_by == telegram_id).order_by(Broadcast.id)
    )
    return PersonalData(
        telegram_id=telegram_id,
        user=get_user(session, telegram_id),
        profile=(
            RememberedProfile(profile.name, profile.role, profile.sector, profile.email)
            if profile is not None
            else None
        ),
        registrations=_registrations(session, telegram_id),
        messages=_messages(session, telegram_id),
        user_data=json.loads(stored.data) if stored is not None else {},
        conversations=tuple(
            ConversationRecord(c.name, json.loads(c.state)) for c in conversations
        ),
        broadcasts=tuple(
            BroadcastRecord(b.created_at, b.audience, b.status, b.text) for b in broadcasts
        ),
        feedback=tuple(
            FeedbackRecord(_activity_ref(a), f.stars, f.comment, f.created_at, f.updated_at)
            for f, a in session.execute(
                select(Feedback, Activity)
                .join(Activity, Activity.id == Feedback.activity_id)
                .where(Feedback.user_id == telegram_id)
                .order_by(Feedback.id)
            ).all()
        ),
        inbox=tuple(threads_of_user(session, telegram_id)),
        blocked_since=blocked_since(session, telegram_id),
        **_as_organiser(session, telegram_id),
    )


def _as_organiser(session: Session, telegram_id: int) -> dict[str, Any]:
    organiser = session.get(Organiser, telegram_id)
    made = session.scalars(
        select(Activity).where(Activity.created_by == telegram_id).order_by(Activity.starts_at)
    )
    answers = session.scalars(
        select(InboxMessage)
        .where(InboxMessage.author_id == telegram_id, InboxMessage.direction == Direction.OUT)
        .order_by(InboxMessage.id)
    )
    return {
        "organiser": (
            OrganiserRecord(organiser.added_at, organiser.note) if organiser is not None else None
        ),
        "activities_created": tuple(_activity_ref(a) for a in made),
        "faq_additions": tuple(
            AdditionRecord(
                a.entry_id,
                a.language,
                a.question,
                a.added_at,
                your_words=a.source_user_id == telegram_id,
                added_by_you=a.added_by == telegram_id,
            )
            for a in additions_about(session, telegram_id)
        ),
        "answers_written": tuple(AnswerRecord(m.thread_id, m.text, m.created_at) for m in answers),
    }


def _time(moment: datetime | None, zone: tzinfo) -> str | None:
    return moment.astimezone(zone).isoformat() if moment is not None else None


def _activity_json(activity: ActivityRef | None, zone: tzinfo) -> dict[str, Any] | None:
    if activity is None:
        return None
    return {
        "slug": activity.slug,
        "title_nl": activity.title_nl,
        "title_en": activity.title_en,
        "starts_at": _time(activity.starts_at, zone),
    }


def personal_data_json(data: PersonalData, zone: tzinfo) -> dict[str, Any]:
    """The complete data as JSON-safe values, times in ISO-8601 in the bot's time zone."""
    user = data.user
    profile = data.profile
    return {
        "telegram_id": data.telegram_id,
        "user": (
            {
                "language": user.language,
                "first_seen": _time(user.first_seen, zone),
                "last_seen": _time(user.last_seen, zone),
                "reminders_enabled": user.reminders_enabled,
                "announcements_opt_out": user.announcements_opt_out,
                "blocked": user.blocked,
            }
            if user is not None
            else None
        ),
        "profile": (
            {
                "name": profile.name,
                "role": profile.role,
                "sector": profile.sector,
                "email": profile.email,
            }
            if profile is not None
            else None
        ),
        "registrations": [
            {
                "activity": _activity_json(r.activity, zone),
                "status": r.status,
                "waiting_list_position": r.position,
                "cancel_reason": r.cancel_reason,
                "name": r.name,
                "role": r.role,
                "sector": r.sector,
                "email": r.email,
                "question": r.question,
                "registered_at": _time(r.registered_at, zone),
                "queued_at": _time(r.queued_at, zone),
                "offer_expires_at": _time(r.offer_expires_at, zone),
                "consent_at": _time(r.consent_at, zone),
                "cancelled_at": _time(r.cancelled_at, zone),
                "updated_at": _time(r.updated_at, zone),
                "present_at_the_door": r.attended,
                "checked_in_at": _time(r.checked_in_at, zone),
            }
            for r in data.registrations
        ],
        "messages": [
            {
                "kind": m.kind,
                "status": m.status,
                "activity": _activity_json(m.activity, zone),
                "created_at": _time(m.created_at, zone),
                "due_at": _time(m.due_at, zone),
                "sent_at": _time(m.sent_at, zone),
                "attempts": m.attempts,
                "last_error": m.last_error,
                "details": m.details,
            }
            for m in data.messages
        ],
        "user_data": data.user_data,
        "conversations": [{"name": c.name, "state": c.state} for c in data.conversations],
        "broadcasts_sent": [
            {
                "created_at": _time(b.created_at, zone),
                "audience": b.audience,
                "status": b.status,
                "text": b.text,
            }
            for b in data.broadcasts
        ],
        "feedback": [
            {
                "activity": _activity_json(f.activity, zone),
                "stars": f.stars,
                "comment": f.comment,
                "created_at": _time(f.created_at, zone),
                "updated_at": _time(f.updated_at, zone),
            }
            for f in data.feedback
        ],
        "inbox_threads": [
            {
                "id": thread.id,
                "kind": thread.kind.value,
                "status": thread.status.value,
                "first_name": thread.first_name,
                "language": thread.language,
                "faq_guesses": list(thread.guesses),
                "created_at": _time(thread.created_at, zone),
                "last_message_at": _time(thread.updated_at, zone),
                "messages": [
                    {
                        "from": "you" if m.direction == "in" else "programme office",
                        "text": m.text,
                        "at": _time(m.created_at, zone),
                    }
                    for m in messages
                ],
            }
            for thread, messages in data.inbox
        ],
        "blocked_from_programme_office_since": _time(data.blocked_since, zone),
        "faq_additions": [
            {
                "entry": a.entry_id,
                "language": a.language,
                "question": a.question,
                "added_at": _time(a.added_at, zone),
                "in_your_words": a.your_words,
                "added_by_you": a.added_by_you,
            }
            for a in data.faq_additions
        ],
        "organiser": (
            {"added_at": _time(data.organiser.added_at, zone), "note": data.organiser.note}
            if data.organiser is not None
            else None
        ),
        "activities_created": [_activity_json(a, zone) for a in data.activities_created],
        "answers_written": [
            {"thread": a.thread_id, "text": a.text, "at": _time(a.created_at, zone)}
            for a in data.answers_written
        ],
    }
