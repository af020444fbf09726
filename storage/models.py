"""ORM models. Schema changes go through an Alembic migration in storage/migrations."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.types import UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(Base):
    """Someone who talked to the bot. Only what the bot needs to serve them."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    language: Mapped[str | None] = mapped_column(String(2))
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    reminders_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    announcements_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when Telegram says the user blocked the bot; cleared when they talk to it again.
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)


class FaqMiss(Base):
    """A question the bot could not answer confidently. Deliberately without the user's id."""

    __tablename__ = "faq_misses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(2))
    best_id: Mapped[str | None] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float)
    asked_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    # Answered with this topic, and the person tapped "Niet wat ik vroeg".
    rejected_id: Mapped[str | None] = mapped_column(String(64))


class Activity(Base):
    """Something people sign up for. Loaded from YAML by slug; never deleted with its sign-ups."""

    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    title_nl: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    description_nl: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    location: Mapped[str | None] = mapped_column(String(300))
    online_url: Mapped[str | None] = mapped_column(String(500))
    capacity: Mapped[int | None] = mapped_column(Integer)
    registration_opens_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    registration_closes_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    audience: Mapped[str] = mapped_column(String(16), default="iedereen")
    # True: only that audience may sign up; false: others are told, and may still sign up.
    audience_strict: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="published")
    waitlist_mode: Mapped[str] = mapped_column(String(8), default="auto")
    offer_hours: Mapped[int] = mapped_column(Integer, default=24)
    # Comma-separated durations ("2d,2h"); empty means the configured default.
    reminder_offsets: Mapped[str | None] = mapped_column(String(100))
    is_sample: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Fields an organiser changed in chat (JSON list): `events load` never overwrites them
    # silently. Null for activities that only ever came from a file.
    changed_in_chat: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(BigInteger)  # organiser, when made in chat
    # What attendees scan at the door (t.me/<bot>?start=checkin_<code>).
    checkin_code: Mapped[str | None] = mapped_column(String(32), unique=True)


class Registration(Base):
    """One person's place for one activity: registered, waiting, offered a seat, or cancelled."""

    __tablename__ = "registrations"
    __table_args__ = (
        UniqueConstraint("activity_id", "user_id"),
        # Seats taken per activity (the agenda counts only the activities it shows).
        Index("ix_registrations_activity_status", "activity_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id"), index=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)  # Telegram user id
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    sector: Mapped[str | None] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(254))
    question: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    # Why it was cancelled: "user", "offer_expired" or "activity" (re-opening tells those).
    cancel_reason: Mapped[str | None] = mapped_column(String(16))
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Position in the waiting list is the order of this time (first come, first served).
    queued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    offer_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    consent_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # At the door: None = not checked, True = present, False = absent (a no-show).
    attended: Mapped[bool | None] = mapped_column(Boolean)
    checked_in_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Profile(Base):
    """Answers remembered from a user's last sign-up, offered again next time."""

    __tablename__ = "profiles"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    sector: Mapped[str | None] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(254))


class ConversationState(Base):
    """PTB conversation states, so a restart resumes a sign-up where the user was."""

    __tablename__ = "conversation_states"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[str] = mapped_column(Text)


class UserData(Base):
    """PTB per-user data (the sign-up draft), as JSON."""

    __tablename__ = "user_data"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    data: Mapped[str] = mapped_column(Text)


class Broadcast(Base):
    """An organiser's announcement; its deliveries are fixed when it is confirmed."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_by: Mapped[int] = mapped_column(BigInteger)
    audience: Mapped[str] = mapped_column(String(32))
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("activities.id"))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)  # sending, done
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    status_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    status_message_id: Mapped[int | None] = mapped_column(Integer)
    # Optional English version, for users whose language is English.
    text_en: Mapped[str | None] = mapped_column(Text)
    # Sent at this time rather than at once ("morgen 9:00").
    scheduled_for: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # An announcement about an activity can carry its "Aanmelden" button.
    signup_activity_id: Mapped[int | None] = mapped_column(Integer)


class OutboxMessage(Base):
    """A message the bot owes a user, written in the transaction that causes it (see
    storage/outbox.py): pending -> sending -> sent, unconfirmed, blocked, failed or dropped."""

    __tablename__ = "outbox"
    __table_args__ = (
        # The sender's claim: the most urgent due pending message.
        Index("ix_outbox_claim", "status", "priority", "due_at"),
        # The claim of the next due message of one priority: pending rows only (migration 0010).
        Index(
            "ix_outbox_due",
            "priority",
            "due_at",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_outbox_broadcast_status", "broadcast_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)  # Telegram user id (chat)
    kind: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    deadline: Mapped[datetime | None] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sender: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    activity_id: Mapped[int | None] = mapped_column(Integer, index=True)
    registration_id: Mapped[int | None] = mapped_column(Integer, index=True)
    broadcast_id: Mapped[int | None] = mapped_column(Integer)
    offset_seconds: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[str | None] = mapped_column(Text)
    # Planning twice (two instances starting at once) must not owe the same message twice.
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Feedback(Base):
    """An attendee's answer to "how was it?": 1-5 stars and an optional comment."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("activity_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id"), index=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)  # Telegram user id
    stars: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Organiser(Base):
    """An organiser added with `mao-bot admin add`, next to `admins` in config."""

    __tablename__ = "organisers"

    telegram_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)
    note: Mapped[str | None] = mapped_column(String(200))


class BlockedUser(Base):
    """Someone an organiser blocked (`mao-bot block`): nothing they send reaches the
    programme office any more. Kept after /vergeetmij, or the block would undo itself."""

    __tablename__ = "blocked_users"

    telegram_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    blocked_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FaqCount(Base):
    """How many questions got each answer band on a day: no text, no user, just counts."""

    __tablename__ = "faq_counts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    band: Mapped[str] = mapped_column(String(16), primary_key=True)  # answer, suggest, fallback
    count: Mapped[int] = mapped_column(Integer, default=0)


class FaqTopicCount(Base):
    """How often a topic was the straight answer on a day, and how often the person tapped
    "Niet wat ik vroeg" under it (`outcome` answered or rejected): no text, no user."""

    __tablename__ = "faq_topic_counts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class InboxThread(Base):
    """A conversation between one user and the programme office: a question the FAQ could
    not answer, a story from practice or a reported bottleneck. Personal data: shown in
    /mijngegevens, deleted by /vergeetmij, kept `inbox.retention` after the last message."""

    __tablename__ = "inbox_threads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Null for an anonymous story or bottleneck: nobody can answer it, nobody can trace it.
    user_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    first_name: Mapped[str | None] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(2))
    kind: Mapped[str] = mapped_column(String(16))  # question, story, bottleneck
    status: Mapped[str] = mapped_column(String(16), index=True)  # open, answered
    # The FAQ's best guesses when it was handed over (JSON list of entry ids).
    guesses: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class InboxMessage(Base):
    """One message of a thread, in either direction, and where it was shown."""

    __tablename__ = "inbox_messages"
    __table_args__ = (
        # An organiser's reply names the message it replies to: find its thread.
        Index("ix_inbox_messages_organiser_copy", "organiser_chat_id", "organiser_message_id"),
        Index("ix_inbox_messages_user_copy", "user_chat_id", "user_message_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("inbox_threads.id"), index=True)
    direction: Mapped[str] = mapped_column(String(8))  # "in" (from the user), "out" (answer)
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(BigInteger)  # the organiser who answered
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Where the copy of this message was delivered (filled in by the outbox once sent).
    organiser_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    organiser_message_id: Mapped[int | None] = mapped_column(BigInteger)
    user_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    user_message_id: Mapped[int | None] = mapped_column(BigInteger)


class FaqAddition(Base):
    """A question an organiser added to a FAQ entry as a phrasing ("Voeg toe aan FAQ").
    Effective at once on every instance. Added from someone's inbox thread in their own
    words, it remembers whose (`source_user_id`) and goes with them (/vergeetmij, the
    thread's retention); rewritten by the organiser, or from /faqgaps (misses have no
    author), it names nobody and stays."""

    __tablename__ = "faq_additions"
    __table_args__ = (
        UniqueConstraint("entry_id", "language", "question"),
        # Ids are never handed out again (SQLite would reuse the highest after a delete):
        # core/faq_live.py tells the set of additions apart by count and highest id.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(64), index=True)
    language: Mapped[str] = mapped_column(String(2))
    question: Mapped[str] = mapped_column(String(500))
    added_by: Mapped[int | None] = mapped_column(BigInteger)
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Whose words these are (the asker's Telegram id), and the thread they came from.
    source_user_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    source_thread_id: Mapped[int | None] = mapped_column(Integer, index=True)
