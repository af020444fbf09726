"""A database at scale: 100,000 users, 200,000 registrations, 160,000 planned reminders.

Built once per run with bulk inserts (the bot's own schema, migrated by Alembic), then
copied for each benchmark that needs it. Sizes scale down with `factor` (`--quick`).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select, update

from storage.db import Database
from storage.models import (
    Activity,
    ConversationState,
    OutboxMessage,
    Registration,
    User,
    UserData,
)
from storage.outbox import OutboxKind, OutboxStatus, priority_of
from storage.vocabulary import RegistrationStatus, Status

FIRST_USER = 10_000_000
BATCH = 20_000


@dataclass(frozen=True)
class Sizes:
    users: int = 100_000
    registrations: int = 200_000
    reminders: int = 160_000
    activities: int = 100  # 80 upcoming, 20 past
    conversations: int = 2_000  # sign-ups under way (state and draft stored)

    def scaled(self, factor: float) -> Sizes:
        return Sizes(
            users=int(self.users * factor),
            registrations=int(self.registrations * factor),
            reminders=int(self.reminders * factor),
            activities=max(10, int(self.activities * factor)),
            conversations=int(self.conversations * factor),
        )


def _batches(rows: list[dict[str, object]]) -> list[list[dict[str, object]]]:
    return [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]


def build(path: Path, sizes: Sizes, now: datetime | None = None) -> Path:
    now = now or datetime.now(UTC)
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    upcoming = sizes.activities * 4 // 5
    activities = []
    for n in range(sizes.activities):
        starts = now + timedelta(days=3 + n) if n < upcoming else now - timedelta(days=n)
        activities.append(
            {
                "id": n + 1,
                "slug": f"bench-{n:04d}",
                "kind": ("dialoog", "masterclass", "fieldlab", "werksessie")[n % 4],
                "title_nl": f"Bijeenkomst {n}",
                "title_en": f"Meeting {n}",
                "description_nl": "Een bijeenkomst om te meten.",
                "description_en": "A meeting to measure.",
                "starts_at": starts,
                "ends_at": starts + timedelta(hours=2),
                "location": "Utrecht",
                "capacity": None if n % 3 == 0 else 2_500,
                "audience": "iedereen",
                "audience_strict": False,
                "status": Status.PUBLISHED.value,
                "waitlist_mode": "auto",
                "offer_hours": 24,
                "is_sample": False,
                "updated_at": now,
            }
        )
    users = [
        {
            "telegram_id": FIRST_USER + n,
            "language": "nl" if n % 5 else "en",
            "first_seen": now - timedelta(days=n % 300),
            "last_seen": now - timedelta(days=n % 30),
            "reminders_enabled": True,
            "announcements_opt_out": n % 20 == 0,
            "blocked": False,
        }
        for n in range(sizes.users)
    ]
    statuses = (
        [RegistrationStatus.REGISTERED.value] * 8
        + [RegistrationStatus.WAITING.value]
        + [RegistrationStatus.CANCELLED.value]
    )
    registrations = []
    for n in range(sizes.registrations):
        person = n % sizes.users
        # Each person's k-th registration is for a different activity.
        activity = (person + (n // sizes.users) * 37) % sizes.activities + 1
        # Sign-ups over the last 60 days, as /cijfers charts them.
        signed_up = now - timedelta(days=1 + n % 60, minutes=n % 1_440)
        registrations.append(
            {
                "id": n + 1,
                "activity_id": activity,
                "user_id": FIRST_USER + person,
                "name": f"Deelnemer {person}",
                "role": "ouder",
                "status": statuses[n % len(statuses)],
                "registered_at": signed_up,
                "queued_at": signed_up,
                "consent_at": signed_up,
                "updated_at": signed_up,
            }
        )
    start_of = {a["id"]: a["starts_at"] for a in activities}
    reminders: list[dict[str, object]] = []
    for registration in registrations:
        if len(reminders) >= sizes.reminders:
            break
        start = start_of[registration["activity_id"]]
        assert isinstance(start, datetime)
        if registration["status"] != RegistrationStatus.REGISTERED.value or start < now:
            continue
        for offset in (timedelta(days=2), timedelta(hours=2)):
            due = start - offset
            reminders.append(
                {
                    "user_id": registration["user_id"],
                    "kind": OutboxKind.REMINDER.value,
                    "status": OutboxStatus.PENDING.value,
                    "priority": int(priority_of(OutboxKind.REMINDER)),
                    "due_at": due,
                    "deadline": start,
                    "attempts": 0,
                    "activity_id": registration["activity_id"],
                    "registration_id": registration["id"],
                    "offset_seconds": int(offset.total_seconds()),
                    "dedupe_key": (
                        f"reminder:{registration['id']}:{int(offset.total_seconds())}:"
                        f"{int(due.timestamp())}"
                    ),
                    "created_at": now,
                    "updated_at": now,
                }
            )
    states = [
        {
            "name": "signup",
            "key": json.dumps([FIRST_USER + n, FIRST_USER + n]),
            "state": json.dumps({"state": 2, "updated_at": now.isoformat()}),
        }
        for n in range(sizes.conversations)
    ]
    drafts = [
        {"user_id": FIRST_USER + n, "data": json.dumps({"signup": {"activity_id": 1}})}
        for n in range(sizes.conversations)
    ]
    with db.session() as session:
        for model, rows in (
            (Activity, activities),
            (User, users),
            (Registration, registrations),
            (OutboxMessage, reminders),
            (ConversationState, states),
            (UserData, drafts),
        ):
            for batch in _batches(rows):  # type: ignore[arg-type]
                session.execute(insert(model), batch)
    with db.engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
    db.dispose()
    return path


def copy(source: Path, target: Path) -> Path:
    shutil.copyfile(source, target)
    return target


def make_due(path: Path, count: int, within: timedelta, now: datetime | None = None) -> int:
    """The first `count` planned two-day reminders (one per person, as when an activity's
    attendees are reminded) fall due over the next `within`, spread evenly."""
    now = now or datetime.now(UTC)
    db = Database(f"sqlite:///{path}")
    seconds = max(1, int(within.total_seconds()))
    with db.session() as session:
        ids = session.scalars(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.status == OutboxStatus.PENDING.value,
                OutboxMessage.offset_seconds == int(timedelta(days=2).total_seconds()),
            )
            .order_by(OutboxMessage.id)
            .limit(count)
        ).all()
        for n, message_id in enumerate(ids):
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message_id)
                .values(due_at=now + timedelta(seconds=n * seconds / max(1, len(ids))))
            )
    db.dispose()
    return len(ids)


def reminders_sent(path: Path) -> int:
    db = Database(f"sqlite:///{path}")
    with db.engine.connect() as connection:
        count = connection.exec_driver_sql(
            "SELECT count(*) FROM outbox WHERE kind = ? AND status = ?",
            (OutboxKind.REMINDER.value, OutboxStatus.SENT.value),
        ).scalar_one()
    db.dispose()
    return int(count)
