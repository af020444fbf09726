"""Owed-message kinds (jobs/owed_kinds.py): every kind the bot can owe is declared by a
feature and registered, renderers do no I/O, and each message is read once before it is
written out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import ADMIN_ID, ROOT, FakeClock
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.offline.driver import BotDriver
from core.context import MaoContext
from handlers import privacy_owed
from jobs import owed_kinds
from jobs.outbox import outbox_of
from storage.activities import ActivitySpec, Localised, get_activity, upsert_activities
from storage.broadcasts import create_broadcast
from storage.db import Database
from storage.inbox import ThreadKind, start_thread, thread_messages
from storage.models import OutboxMessage, Registration
from storage.outbox import OutboxKind, OwedMessage, Until, owe
from storage.registrations import SignupDetails, cancel_registration, register
from storage.users import touch_user
from storage.vocabulary import Recipients, RegistrationStatus, Role

ZONE = ZoneInfo("Europe/Amsterdam")
PARENT = SignupDetails("Anna de Vries", Role.OUDER, None, "anna@example.org", None)
SEATED, WAITING, OFFERED, CANCELLED, ATTENDED = 7001, 7002, 7003, 7004, 7005
NEVER_SENT = {OutboxKind.INBOX_SHOWN}  # a record of a copy shown by a reply (storage/inbox.py)


def test_every_kind_the_bot_can_owe_is_declared_by_a_feature() -> None:
    registered = owed_kinds.registered_kinds()
    assert set(OutboxKind) - set(registered) == set(), "declare it in its feature's OWED"
    assert {kind for kind, d in registered.items() if d.render is None} == NEVER_SENT


def test_storage_refuses_a_kind_nobody_declared(
    migrated_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(owed_kinds._KINDS, OutboxKind.REMINDER)
    import storage.outbox

    monkeypatch.delitem(storage.outbox._RULES, OutboxKind.REMINDER)
    db = Database(migrated_db_url)
    with pytest.raises(LookupError, match="registered at start"), db.session() as session:
        owe(session, 1, OutboxKind.REMINDER, datetime(2027, 3, 1, tzinfo=UTC))
    db.dispose()


def test_a_kind_is_owed_at_the_priority_its_feature_declares(
    migrated_db_url: str,
) -> None:
    db = Database(migrated_db_url)
    with db.session() as session:
        owe(session, 1, OutboxKind.ERASURE_NOTICE, datetime(2027, 3, 1, tzinfo=UTC))
    with db.reading() as session:
        priority = session.scalar(select(OutboxMessage.priority))
    [notice] = [k for k in privacy_owed.OWED if k.kind is OutboxKind.ERASURE_NOTICE]
    assert priority == notice.priority
    db.dispose()


def spec(slug: str, starts_at: datetime, **extra: object) -> ActivitySpec:
    values: dict[str, object] = {
        "slug": slug,
        "kind": "dialoog",
        "title": Localised(nl="Testdialoog", en="Test dialogue"),
        "starts_at": starts_at,
        "ends_at": starts_at + timedelta(hours=2),
        "location": "Arnhem",
        "online_url": "https://meet.example.org/test",
        "capacity": 5,
    }
    values.update(extra)
    return ActivitySpec.model_validate(values)


def ask(session: Session, user: int, kind: ThreadKind, now: datetime) -> int:
    """A thread to the organisers (its copy to ADMIN_ID is owed)."""
    return start_thread(
        session,
        user_id=user,
        first_name="Anna",
        language="nl",
        kind=kind,
        text="Waar is het?",
        guesses=[],
        now=now,
        recipients=[ADMIN_ID],
    )


def one_of_each(driver: BotDriver, now: datetime) -> list[OwedMessage]:
    """A message of every kind that is sent, each about something that makes it still
    owed (a seat ahead, an offer open, a thread kept...)."""
    db = driver.services.db
    earlier = now - timedelta(days=20)
    with db.session() as session:
        upsert_activities(
            session,
            (spec("ahead", datetime(2027, 5, 18, 14)), spec("over", datetime(2027, 3, 1, 6))),
            ZONE,
            earlier,
        )
        ahead, over = get_activity(session, "ahead"), get_activity(session, "over")
        assert ahead is not None and over is not None
        for user in (SEATED, WAITING, OFFERED, CANCELLED, ATTENDED, ADMIN_ID):
            touch_user(session, user, earlier)
        seats: dict[int, int] = {}
        for user in (SEATED, WAITING, OFFERED, CANCELLED):
            result = register(session, ahead.id, user, PARENT, earlier, join_waitlist=True)
            assert result.registration_id is not None
            seats[user] = result.registration_id
        result = register(session, over.id, ATTENDED, PARENT, earlier, join_waitlist=False)
        assert result.registration_id is not None
        seats[ATTENDED] = result.registration_id
        for user, status in (
            (WAITING, RegistrationStatus.WAITING),
            (OFFERED, RegistrationStatus.OFFERED),
            (CANCELLED, RegistrationStatus.CANCELLED),
        ):
            row = session.get(Registration, seats[user])
            assert row is not None
            row.status = status
            row.offer_expires_at = now + timedelta(hours=5) if user == OFFERED else None
        broadcast = create_broadcast(
            session, ADMIN_ID, Recipients.EVERYONE, None, "Hallo", now, signup_activity_id=ahead.id
        )
        thread = ask(session, SEATED, ThreadKind.QUESTION, now)
        [question] = thread_messages(session, thread)

    def about(user: int, kind: OutboxKind, **values: Any) -> OwedMessage:
        fields: dict[str, Any] = {
            "id": 0,
            "user_id": user,
            "kind": kind,
            "activity_id": None,
            "registration_id": seats.get(user),
            "broadcast_id": None,
            "due_at": now,
            "deadline": None,
            "attempts": 1,
            "payload": {},
        }
        return OwedMessage(**(fields | values))

    inbox = {"payload": {"message": question.id}}
    return [
        about(SEATED, OutboxKind.CONFIRMATION),
        about(SEATED, OutboxKind.PROMOTED),
        about(SEATED, OutboxKind.CALENDAR),
        about(CANCELLED, OutboxKind.CALENDAR_CANCEL),
        about(WAITING, OutboxKind.WAITLISTED),
        about(OFFERED, OutboxKind.OFFERED),
        about(CANCELLED, OutboxKind.OFFER_EXPIRED),
        about(CANCELLED, OutboxKind.ACTIVITY_CANCELLED),
        about(CANCELLED, OutboxKind.ACTIVITY_REOPENED),
        about(SEATED, OutboxKind.ACTIVITY_MOVED, payload={"from": earlier.isoformat()}),
        about(SEATED, OutboxKind.REMINDER),
        about(SEATED, OutboxKind.JOIN_LINK),
        about(SEATED, OutboxKind.BROADCAST, broadcast_id=broadcast),
        about(ATTENDED, OutboxKind.FEEDBACK_REQUEST),
        about(ADMIN_ID, OutboxKind.INBOX_TO_ORGANISERS, **inbox),
        about(SEATED, OutboxKind.INBOX_TO_USER, **inbox),
        about(ADMIN_ID, OutboxKind.INBOX_UNDELIVERED, **inbox),
        about(ADMIN_ID, OutboxKind.COPY_ERASED, payload={"copy": 12}),
        about(ADMIN_ID, OutboxKind.ERASURE_NOTICE, payload={"count": 2}),
    ]


async def test_no_renderer_touches_the_database(
    driver: BotDriver, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = driver.services
    now = clock()
    messages = one_of_each(driver, now)
    assert {m.kind for m in messages} == set(OutboxKind) - NEVER_SENT
    with services.db.reading() as session:
        loaded = {m.kind: owed_kinds.load(session, m, services, now) for m in messages}

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a renderer used the database")

    application = driver.application
    assert application is not None
    rendered = {}
    with monkeypatch.context() as patch:
        for name in ("session", "reading", "run", "run_session", "run_reading", "read_or"):
            patch.setattr(Database, name, refuse)
        for kind, item in loaded.items():
            assert isinstance(item, owed_kinds.Loaded), kind  # still owed: rendered in full
            context = MaoContext(application, chat_id=ADMIN_ID, user_id=ADMIN_ID)
            context.cached_language = item.language or services.catalogue.default
            rendered[kind] = owed_kinds.render(item, context)
    assert [kind for kind, r in rendered.items() if r is None] == []


@contextmanager
def counting(method: str) -> Iterator[list[int]]:
    """How often Database.<method> (a session, a read-only one) is opened meanwhile."""
    opened: list[int] = []
    original: Callable[..., Any] = getattr(Database, method)

    def counted(self: Database) -> Any:
        opened.append(1)
        return original(self)

    setattr(Database, method, counted)
    try:
        yield opened
    finally:
        setattr(Database, method, original)


async def test_each_owed_message_is_read_once_before_it_is_written_out(
    driver: BotDriver, clock: FakeClock
) -> None:
    """A confirmation, its calendar file (which waits for the confirmation: asked in the
    same read) and an inbox copy: one read-only session each, and beside it only the claim
    and the outcome. Before, the calendar file's wait and an inbox copy's thread were each
    read in a session of their own, and every message's data in a writing session."""
    sender = outbox_of(driver.application)  # type: ignore[arg-type]
    await sender.stop()  # the background round would open sessions of its own meanwhile
    now = clock()
    db = driver.services.db
    with db.session() as session:
        upsert_activities(session, (spec("ahead", datetime(2027, 5, 18, 14)),), ZONE, now)
        ahead = get_activity(session, "ahead")
        assert ahead is not None
        touch_user(session, SEATED, now)
        register(session, ahead.id, SEATED, PARENT, now, join_waitlist=False)
        ask(session, SEATED, ThreadKind.STORY, now)
    with counting("reading") as readings, counting("session") as sessions:
        sent = await sender.deliver_due(SEATED) + await sender.deliver_due(ADMIN_ID)
    assert sent == 3  # the confirmation, its file, the copy
    assert len(readings) == 3
    # A claim and an outcome per message, and one claim each that found nothing more.
    assert len(sessions) == 2 * 3 + 2


def test_each_message_is_tried_until_the_deadline_its_kind_declares(
    migrated_db_url: str,
) -> None:
    """A seat, its calendar file, reminders and meeting link, a place on the waiting list,
    and a seat offered when the first person gives theirs up: every row's deadline is the
    one its kind declares (the activity's start or end, the offer's lapse)."""
    now = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    db = Database(migrated_db_url)
    with db.session() as session:
        online = spec("ahead", datetime(2027, 5, 18, 14), capacity=1, waitlist_mode="offer")
        upsert_activities(session, (online,), ZONE, now)
        activity = get_activity(session, "ahead")
        assert activity is not None
        link = timedelta(minutes=15)
        seat = register(
            session, activity.id, SEATED, PARENT, now, join_waitlist=True, join_link_before=link
        )
        register(session, activity.id, WAITING, PARENT, now, join_waitlist=True)
        assert seat.registration_id is not None
        cancel_registration(session, seat.registration_id, SEATED, now, link)
    with db.reading() as session:
        rows = session.execute(
            select(OutboxMessage.kind, OutboxMessage.deadline, Registration.offer_expires_at).join(
                Registration, Registration.id == OutboxMessage.registration_id
            )
        ).all()
    db.dispose()
    moments = {Until.START: activity.starts_at, Until.END: activity.ends_at}
    kinds = owed_kinds.registered_kinds()
    for kind, deadline, offer_lapses in rows:
        rule = kinds[OutboxKind(kind)].deadline
        expected = offer_lapses if rule.until is Until.OFFER_LAPSES else moments[rule.until]
        assert expected is not None and deadline == expected + rule.plus, kind
    assert {OutboxKind(kind) for kind, *_ in rows} >= {
        OutboxKind.CONFIRMATION,
        OutboxKind.CALENDAR,
        OutboxKind.REMINDER,
        OutboxKind.JOIN_LINK,
        OutboxKind.WAITLISTED,
        OutboxKind.OFFERED,
    }


def test_what_owes_messages_as_time_passes_is_declared_by_its_feature() -> None:
    """The engine runs the sweeps it is given; planning feedback and moving reminders out of
    the quiet hours are the features' (handlers/*_owed.py), registered at start."""
    sweeps = {sweep.name: sweep.run.__module__ for sweep in owed_kinds.registered_sweeps()}
    assert sweeps == {
        "feedback": "handlers.feedback_owed",
        "quiet-hours": "handlers.reminders_owed",
    }
    engine = (ROOT / "jobs" / "outbox.py").read_text(encoding="utf-8")
    assert "plan_feedback" not in engine and "quiet_hours(" not in engine
