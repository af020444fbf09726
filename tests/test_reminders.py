"""Reminders: planned from the database, sent exactly once, across restarts and downtime."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.config import AppConfig
from bot.offline.driver import BotDriver, buttons_of
from bot.services import build_services
from core.services import system_clock
from storage.activities import ActivitySpec, Localised, get_activity, upsert_activities
from storage.db import Database
from storage.models import Reminder
from storage.registrations import SignupDetails, cancel_registration, register
from storage.reminders import claim_reminder, sync_reminders
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
    with db.session() as session:
        rows = session.scalars(select(Reminder)).all()
        return {(r.user_id, r.offset_seconds): (r.due_at, r.status) for r in rows}


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, db_url: str) -> Iterator[Database]:
    url = db_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    database = Database(url)
    database.upgrade()
    yield database
    database.dispose()


def test_planning_moving_and_cancelling(db: Database) -> None:
    starts = datetime(2027, 3, 10, 14, tzinfo=ZONE)
    activity_id = setup(db, starts, [1])
    with db.session() as session:
        sync_reminders(session, [TWO_DAYS, TWO_HOURS], NOW)
        sync_reminders(session, [TWO_DAYS, TWO_HOURS], NOW)  # idempotent
    assert plan(db) == {
        (1, 172800): (starts - TWO_DAYS, "planned"),
        (1, 7200): (starts - TWO_HOURS, "planned"),
    }
    moved = datetime(2027, 3, 12, 10, tzinfo=ZONE)
    with db.session() as session:
        report = upsert_activities(session, (spec(moved),), ZONE, NOW)
        assert report.moved == ("dialoog",)
        sync_reminders(session, [TWO_DAYS, TWO_HOURS], NOW)
    assert plan(db)[(1, 7200)] == (moved - TWO_HOURS, "planned")
    with db.session() as session:
        rid = session.scalars(select(Reminder.registration_id)).first()
        assert rid is not None
        cancel_registration(session, rid, 1, NOW)
        sync_reminders(session, [TWO_DAYS, TWO_HOURS], NOW)
    assert {status for _, status in plan(db).values()} == {"cancelled"}
    assert activity_id


def test_per_activity_offsets_and_late_signups(db: Database) -> None:
    starts = NOW + timedelta(days=1)
    setup(db, starts, [1], reminders=["3h", "PT30M"])
    with db.session() as session:
        sync_reminders(session, [TWO_DAYS, TWO_HOURS], NOW)
    assert plan(db) == {
        (1, 3 * 3600): (starts - timedelta(hours=3), "planned"),
        (1, 1800): (starts - timedelta(minutes=30), "planned"),
    }
    starts_soon = NOW + timedelta(hours=1)
    with db.session() as session:
        upsert_activities(session, (spec(starts_soon, slug="kort"),), ZONE, NOW)
        activity = get_activity(session, "kort")
        assert activity is not None
        register(session, activity.id, 2, PERSON, NOW, join_waitlist=True)
        sync_reminders(session, [TWO_DAYS, TWO_HOURS], NOW, activity.id)
    # Signed up after both reminder moments: the confirmation is enough, nothing is sent.
    assert {k: v[1] for k, v in plan(db).items() if k[0] == 2} == {
        (2, 172800): "skipped",
        (2, 7200): "skipped",
    }


def test_claim_is_once_and_respects_state(db: Database) -> None:
    starts = NOW + timedelta(days=3)
    setup(db, starts, [1, 2, 3])
    with db.session() as session:
        set_flags(session, 2, reminders_enabled=False)
        sync_reminders(session, [TWO_DAYS], NOW)
        ids = dict(session.execute(select(Reminder.user_id, Reminder.id)).all())
    due = starts - TWO_DAYS
    with db.session() as session:
        assert claim_reminder(session, ids[1], due) is not None
        assert claim_reminder(session, ids[1], due) is None  # never twice
        assert claim_reminder(session, ids[2], due) is None  # switched off
        assert claim_reminder(session, ids[3], starts + timedelta(minutes=1)) is None  # begun
    statuses = {user: status for (user, _), (_, status) in plan(db).items()}
    assert statuses == {1: "sending", 2: "skipped", 3: "skipped"}


def reminder_calls(driver: BotDriver, users: list[int]) -> dict[int, int]:
    counts = dict.fromkeys(users, 0)
    for call in driver.standin.calls:
        if call.method == "sendMessage" and "Herinnering" in str(call.params.get("text")):
            counts[call.chat_id or 0] = counts.get(call.chat_id or 0, 0) + 1
    return counts


@pytest.fixture
def real_time_config(config: AppConfig) -> AppConfig:
    reminders = config.reminders.model_copy(update={"offsets": (timedelta(seconds=3),)})
    activities = config.activities.model_copy(update={"file": None})
    return config.model_copy(update={"reminders": reminders, "activities": activities})


async def test_restart_between_planning_and_sending_sends_exactly_once(
    real_time_config: AppConfig,
) -> None:
    attendees = [5001, 5002, 5003]
    db = Database(real_time_config.storage.url)
    db.upgrade()
    setup(db, system_clock() + timedelta(seconds=5), attendees, now=system_clock())
    async with BotDriver(lambda: build_services(real_time_config)) as driver:
        assert driver.application is not None and driver.application.job_queue is not None
        assert (
            len(
                [
                    j
                    for j in driver.application.job_queue.jobs()
                    if j.name and j.name.startswith("reminder:")
                ]
            )
            == 3
        )
        await asyncio.sleep(0.5)
        await driver.restart()  # the plan comes back from the database
        await asyncio.sleep(3.5)
        assert reminder_calls(driver, attendees) == dict.fromkeys(attendees, 1)
        await driver.restart()  # and nothing is sent again after another restart
        await asyncio.sleep(0.5)
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
        sync_reminders(session, [], later)
    assert {k[0]: v[1] for k, v in plan(db).items()} == {6001: "planned", 6002: "planned"}
    async with BotDriver(lambda: build_services(real_time_config)) as driver:
        await asyncio.sleep(1.0)
        assert reminder_calls(driver, [6001, 6002]) == {6001: 1, 6002: 0}
    assert {k[0]: v[1] for k, v in plan(db).items()} == {6001: "sent", 6002: "skipped"}


async def test_reminders_can_be_switched_off_and_on(driver: BotDriver) -> None:
    calls = await driver.say(7001, "/herinneringen")
    assert "aan" in calls[-1].params["text"]
    calls = await driver.press(7001, "Zet uit")
    assert "staan uit" in calls[-1].params["text"]
    calls = await driver.say(7001, "/reminders")
    assert "uit" in calls[-1].params["text"]
    calls = await driver.press(7001, "Zet aan")
    assert "weer aan" in calls[-1].params["text"]
