"""Reminders: planned from the database, sent exactly once, across restarts and downtime."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import FakeClock
from sqlalchemy import func, select

from bot.config import AppConfig
from bot.offline.driver import BotDriver, buttons_of
from bot.services import build_services
from core.services import system_clock
from storage.activities import ActivitySpec, Localised, get_activity, upsert_activities
from storage.db import Database
from storage.models import Activity, OutboxMessage, Registration
from storage.outbox import OutboxKind, plan_reminders
from storage.registrations import SignupDetails, cancel_registration, register
from storage.users import set_flags, touch_user
from storage.vocabulary import Role

ZONE = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
TWO_DAYS, TWO_HOURS = timedelta(days=2), timedelta(hours=2)
PERSON = SignupDetails("Anna", Role.OUDER, None, None, None)


def spec(starts: datetime, slug: str = "dialoog", **extra: object) -> ActivitySpec:
    values: dict[str, object] = {
        "slug": slug,
        "kind": "dialoog",
        "title": Localised(nl="Dialoog", en="Dialogue"),
        "starts_at": starts,
        "ends_at": starts + timedelta(hours=2),
        "location": "Arnhem",
    }
    values.update(extra)
    return ActivitySpec.model_validate(values)


def setup(
    db: Database, starts: datetime, users: list[int], now: datetime = NOW, **extra: Any
) -> int:
    with db.session() as session:
        upsert_activities(session, (spec(starts, **extra),), ZONE, now)
        activity = get_activity(session, "dialoog")
        assert activity is not None
        for user in users:
            touch_user(session, user, now)
            register(session, activity.id, user, PERSON, now, join_waitlist=True)
        return activity.id


def plan(db: Database) -> dict[tuple[int, int], tuple[datetime, str]]:
    """Reminders owed: (user, offset) -> (due, status), the latest row of each."""
    with db.session() as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == "reminder")
            .order_by(OutboxMessage.id)
        ).all()
        return {(r.user_id, r.offset_seconds or 0): (r.due_at, r.status) for r in rows}


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, migrated_db_url: str) -> Iterator[Database]:
    url = migrated_db_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    database = Database(url)
    database.upgrade()
    yield database
    database.dispose()


def test_planning_moving_and_cancelling(db: Database) -> None:
    starts = datetime(2027, 3, 10, 14, tzinfo=ZONE)
    setup(db, starts, [1])
    assert plan(db) == {
        (1, 172800): (starts - TWO_DAYS, "pending"),
        (1, 7200): (starts - TWO_HOURS, "pending"),
    }
    moved = datetime(2027, 3, 12, 10, tzinfo=ZONE)
    with db.session() as session:
        report = upsert_activities(session, (spec(moved),), ZONE, NOW)
        assert report.moved == ("dialoog",)
        upsert_activities(session, (spec(moved),), ZONE, NOW)  # idempotent
    assert plan(db) == {
        (1, 172800): (moved - TWO_DAYS, "pending"),
        (1, 7200): (moved - TWO_HOURS, "pending"),
    }
    with db.session() as session:
        old = session.scalars(
            select(OutboxMessage.status).where(
                OutboxMessage.kind == "reminder", OutboxMessage.due_at < moved - TWO_DAYS
            )
        ).all()
        assert set(old) == {"dropped"}  # the old time's reminders are never sent
        rid = session.scalars(select(Registration.id)).first()
        assert rid is not None
        cancel_registration(session, rid, 1, NOW)
    assert {status for _, status in plan(db).values()} == {"dropped"}


def test_per_activity_offsets_and_late_signups(db: Database) -> None:
    starts = NOW + timedelta(days=1)
    setup(db, starts, [1], reminders=["3h", "PT30M"])
    assert plan(db) == {
        (1, 3 * 3600): (starts - timedelta(hours=3), "pending"),
        (1, 1800): (starts - timedelta(minutes=30), "pending"),
    }
    starts_soon = NOW + timedelta(hours=1)
    with db.session() as session:
        upsert_activities(session, (spec(starts_soon, slug="kort"),), ZONE, NOW)
        activity = get_activity(session, "kort")
        assert activity is not None
        register(session, activity.id, 2, PERSON, NOW, join_waitlist=True)
    # Signed up after both reminder moments: the confirmation is enough, nothing is owed.
    assert [k for k in plan(db) if k[0] == 2] == []


def test_two_instances_planning_at_once_owe_one_reminder(db: Database) -> None:
    starts = NOW + timedelta(days=3)
    setup(db, starts, [1])
    with db.session() as session:
        activity = session.scalars(select(Activity)).one()
        registration = session.scalars(select(Registration)).one()
        plan_reminders(session, activity, registration, NOW)  # as a second instance would
    with db.session() as session:
        count = session.scalar(
            select(func.count()).where(OutboxMessage.kind == OutboxKind.REMINDER)
        )
    assert count == 2


async def test_due_reminders_respect_the_state_at_sending(
    driver: BotDriver, clock: FakeClock
) -> None:
    db = driver.services.db
    starts = clock() + timedelta(days=3)
    setup(db, starts, [1, 2, 3], now=clock(), reminders=["2d"])
    with db.session() as session:
        set_flags(session, 2, reminders_enabled=False)
        rid = session.scalars(select(Registration.id).where(Registration.user_id == 3)).one()
        cancel_registration(session, rid, 3, clock())
    clock.advance(timedelta(days=1, minutes=1))
    await driver.deliver_owed()
    await driver.deliver_owed()  # never twice
    assert reminder_calls(driver, [1, 2, 3]) == {1: 1, 2: 0, 3: 0}
    statuses = {user: status for (user, _), (_, status) in plan(db).items()}
    assert statuses == {1: "sent", 2: "dropped", 3: "dropped"}


def reminder_calls(driver: BotDriver, users: list[int]) -> dict[int, int]:
    counts = dict.fromkeys(users, 0)
    for call in driver.standin.calls:
        if call.method == "sendMessage" and "Herinnering" in str(call.params.get("text")):
            counts[call.chat_id or 0] = counts.get(call.chat_id or 0, 0) + 1
    return counts


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait for what the bot does in real time (its sender looks every second)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.fixture
def real_time_config(config: AppConfig) -> AppConfig:
    reminders = config.reminders.model_copy(update={"offsets": (timedelta(seconds=3),)})
    activities = config.activities.model_copy(update={"file": None})
    return config.model_copy(update={"reminders": reminders, "activities": activities})


@pytest.mark.slow
async def test_restart_between_planning_and_sending_sends_exactly_once(
    real_time_config: AppConfig,
) -> None:
    attendees = [5001, 5002, 5003]
    db = Database(real_time_config.storage.url)
    db.upgrade()
    setup(
        db, system_clock() + timedelta(seconds=5), attendees, now=system_clock(), reminders=["3s"]
    )
    assert {status for _, status in plan(db).values()} == {"pending"}
    async with BotDriver(lambda: build_services(real_time_config)) as driver:
        await asyncio.sleep(0.5)
        await driver.restart()  # the plan comes back from the database
        await until(lambda: reminder_calls(driver, attendees) == dict.fromkeys(attendees, 1))
        await driver.restart()  # and nothing is sent again after another restart
        await driver.deliver_owed()  # a whole round of the sender after the start
        assert reminder_calls(driver, attendees) == dict.fromkeys(attendees, 1)
        message = driver.latest_message_with_buttons(5001)
        assert message is not None
        assert [label for label, _ in buttons_of(message)] == ["👍 Ik kom", "Afmelden"]
        assert "Dialoog" in message["text"] and "Arnhem" in message["text"]
        calls = await driver.press(5001, "Ik kom")
        assert any(c.params.get("text") == "Fijn, tot dan!" for c in calls)
    assert {status for _, status in plan(db).values()} == {"sent"}


async def test_reminder_due_during_downtime_is_sent_on_start_unless_begun(
    real_time_config: AppConfig,
) -> None:
    db = Database(real_time_config.storage.url)
    db.upgrade()
    now = system_clock()
    later = now - timedelta(hours=3)  # the plan was made three hours ago, then the bot was down
    setup(db, now + timedelta(hours=1), [6001], now=later, reminders=["2h"])
    with db.session() as session:
        upsert_activities(
            session,
            (spec(now - timedelta(minutes=5), slug="begonnen", reminders=["2h"]),),
            ZONE,
            later,
        )
        begun = get_activity(session, "begonnen")
        assert begun is not None
        touch_user(session, 6002, later)
        register(session, begun.id, 6002, PERSON, later, join_waitlist=True)
    assert {k[0]: v[1] for k, v in plan(db).items()} == {6001: "pending", 6002: "pending"}
    async with BotDriver(lambda: build_services(real_time_config)) as driver:
        await until(lambda: reminder_calls(driver, [6001]) == {6001: 1})
        await driver.deliver_owed()  # a whole round of the sender after the start
        assert reminder_calls(driver, [6001, 6002]) == {6001: 1, 6002: 0}
    # Due while the bot was down: sent if the activity has not begun, else no longer owed.
    assert {k[0]: v[1] for k, v in plan(db).items()} == {6001: "sent", 6002: "dropped"}


async def test_reminders_can_be_switched_off_and_on(driver: BotDriver) -> None:
    calls = await driver.say(7001, "/herinneringen")
    assert "aan" in calls[-1].params["text"]
    calls = await driver.press(7001, "Zet uit")
    assert "staan uit" in calls[-1].params["text"]
    calls = await driver.say(7001, "/reminders")
    assert "uit" in calls[-1].params["text"]
    calls = await driver.press(7001, "Zet aan")
    assert "weer aan" in calls[-1].params["text"]
