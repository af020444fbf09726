"""Feedback after an activity: who is asked, answering, and the organiser's /feedback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import ADMIN_ID, FakeClock, texts
from sqlalchemy import select, update

from bot.offline.driver import BotDriver
from core import callbacks
from storage.activities import ActivitySpec, get_activity, upsert_activities
from storage.db import Database, DatabaseUnavailableError
from storage.feedback import save_comment
from storage.models import Feedback, OutboxMessage, Registration
from storage.outbox import plan_feedback_requests
from storage.personal_data import personal_data, personal_data_json
from storage.privacy import erase_user
from storage.registrations import SignupDetails, cancel_registration, register
from storage.users import touch_user
from storage.vocabulary import Role

ZONE = ZoneInfo("Europe/Amsterdam")
PRESENT, NO_SHOW, THIRD, STRANGER = 3001, 3002, 3003, 3004
QUESTION = "Hoe vond je"


def seed(driver: BotDriver, clock: FakeClock, users: list[int], slug: str = "terugblik") -> int:
    """An activity tomorrow (two hours), with these users registered."""
    starts = clock() + timedelta(days=1)
    spec = ActivitySpec.model_validate(
        {
            "slug": slug,
            "kind": "dialoog",
            "title": {"nl": "Terugblik dialoog", "en": "Looking back"},
            "starts_at": starts,
            "ends_at": starts + timedelta(hours=2),
            "location": "Arnhem",
            "reminders": [],
        }
    )
    with driver.services.db.session() as session:
        upsert_activities(session, (spec,), ZONE, clock())
        activity = get_activity(session, slug)
        assert activity is not None
        for user in users:
            touch_user(session, user, clock())
            details = SignupDetails(f"Deelnemer {user}", Role.OUDER, None, None, None)
            register(session, activity.id, user, details, clock(), join_waitlist=True)
        return activity.id


def check_in(driver: BotDriver, activity_id: int, user: int, present: bool) -> None:
    with driver.services.db.session() as session:
        session.execute(
            update(Registration)
            .where(Registration.activity_id == activity_id, Registration.user_id == user)
            .values(attended=present)
        )


def questions_to(driver: BotDriver, user: int) -> list[str]:
    return [
        str(c.params.get("text"))
        for c in driver.standin.calls
        if c.method == "sendMessage" and c.chat_id == user and QUESTION in str(c.params["text"])
    ]


def feedback_rows(driver: BotDriver) -> list[tuple[int, int, int | None, str | None]]:
    with driver.services.db.session() as session:
        rows = session.execute(
            select(Feedback.activity_id, Feedback.user_id, Feedback.stars, Feedback.comment)
        ).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


async def after_the_end(driver: BotDriver, clock: FakeClock) -> None:
    await driver.deliver_owed()  # confirmations first
    clock.advance(timedelta(days=1, hours=4, minutes=5))  # ended 2 h 5 min ago
    await driver.deliver_owed()


async def test_present_attendee_answers_and_organiser_sees_it(
    driver: BotDriver, clock: FakeClock
) -> None:
    activity_id = seed(driver, clock, [PRESENT, NO_SHOW])
    check_in(driver, activity_id, PRESENT, True)
    check_in(driver, activity_id, NO_SHOW, False)
    await driver.deliver_owed()
    clock.advance(timedelta(days=1, hours=3))  # ended an hour ago: not yet
    await driver.deliver_owed()
    assert questions_to(driver, PRESENT) == []
    clock.advance(timedelta(hours=1, minutes=5))
    await driver.deliver_owed()
    assert len(await driver.messages_to(PRESENT, QUESTION)) == 1
    assert questions_to(driver, NO_SHOW) == []

    calls = await driver.press(PRESENT, "⭐4")
    assert "Typ je opmerking" in texts(calls)[0]
    calls = await driver.say(PRESENT, "Heel leerzaam, <graag> vaker")
    assert "Dank je wel" in texts(calls)[0]
    assert feedback_rows(driver) == [(activity_id, PRESENT, 4, "Heel leerzaam, <graag> vaker")]
    # Asked once only, also when the sender looks again later.
    clock.advance(timedelta(hours=2))
    await driver.deliver_owed()
    assert len(questions_to(driver, PRESENT)) == 1

    calls = await driver.say(ADMIN_ID, "/reacties")
    assert "Van welke activiteit" in texts(calls)[0]
    calls = await driver.press(ADMIN_ID, "Terugblik dialoog")
    shown = texts(calls)[0]
    assert "Gemiddeld 4,0 ⭐ (1 reactie)" in shown
    assert "⭐4: 1" in shown and "⭐1: 0" in shown
    assert "Heel leerzaam, &lt;graag&gt; vaker" in shown


async def test_no_comment_and_answering_again_updates(driver: BotDriver, clock: FakeClock) -> None:
    activity_id = seed(driver, clock, [PRESENT])
    await after_the_end(driver, clock)
    await driver.messages_to(PRESENT, QUESTION)
    await driver.press(PRESENT, "⭐2")
    calls = await driver.press(PRESENT, "Geen opmerking")
    assert "Dank je wel" in texts(calls)[0]
    assert feedback_rows(driver) == [(activity_id, PRESENT, 2, None)]
    # The same stars button pressed again (an old message): the answer is replaced.
    data = callbacks.FEEDBACK_STARS.data(activity=activity_id, stars=5)
    await driver.press_data(PRESENT, data)
    await driver.say(PRESENT, "Toch heel goed")
    assert feedback_rows(driver) == [(activity_id, PRESENT, 5, "Toch heel goed")]


async def test_nobody_checked_in_everyone_registered_is_asked(
    driver: BotDriver, clock: FakeClock
) -> None:
    seed(driver, clock, [PRESENT, NO_SHOW, THIRD])
    await after_the_end(driver, clock)
    for user in (PRESENT, NO_SHOW, THIRD):
        assert len(await driver.messages_to(user, QUESTION)) == 1


async def test_cancelled_seat_is_not_asked(driver: BotDriver, clock: FakeClock) -> None:
    seed(driver, clock, [PRESENT, NO_SHOW])
    with driver.services.db.session() as session:
        registration_id = session.scalar(
            select(Registration.id).where(Registration.user_id == NO_SHOW)
        )
        assert registration_id is not None
        cancel_registration(session, registration_id, NO_SHOW, clock())
    await after_the_end(driver, clock)
    assert len(await driver.messages_to(PRESENT, QUESTION)) == 1
    assert questions_to(driver, NO_SHOW) == []
    with driver.services.db.session() as session:
        kinds = session.scalars(
            select(OutboxMessage.user_id).where(OutboxMessage.kind == "feedback_request")
        ).all()
    assert list(kinds) == [PRESENT]


async def test_strangers_and_non_organisers_are_refused(
    driver: BotDriver, clock: FakeClock
) -> None:
    activity_id = seed(driver, clock, [PRESENT])
    await after_the_end(driver, clock)
    # A forged stars button from someone who was not there stores nothing.
    calls = await driver.press_data(
        STRANGER, callbacks.FEEDBACK_STARS.data(activity=activity_id, stars=1)
    )
    assert "niet (meer) voor jou" in texts(calls)[0]
    assert feedback_rows(driver) == []
    for command in ("/reacties", "/feedback", "/cijfers", "/stats"):
        calls = await driver.say(STRANGER, command)
        assert "alleen de organisatoren" in texts(calls)[0], command
        assert not [c for c in calls if c.method == "sendPhoto"]
    calls = await driver.press_data(
        STRANGER, callbacks.FEEDBACK_RESULTS.data(activity=activity_id)
    )
    assert "alleen de organisatoren" in texts(calls)[0]
    assert not any("Gemiddeld" in t for t in texts(calls))


async def test_answers_are_in_my_data_and_forgotten_with_me(
    driver: BotDriver, clock: FakeClock
) -> None:
    seed(driver, clock, [PRESENT])
    await after_the_end(driver, clock)
    await driver.messages_to(PRESENT, QUESTION)
    await driver.press(PRESENT, "⭐3")
    await driver.say(PRESENT, "Prima")
    with driver.services.db.session() as session:
        data = personal_data(session, PRESENT)
        (record,) = data.feedback
        assert (record.stars, record.comment) == (3, "Prima")
        assert personal_data_json(data, ZONE)["feedback"][0]["comment"] == "Prima"
        erase_user(session, PRESENT, clock())
    assert feedback_rows(driver) == []


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, migrated_db_url: str) -> Iterator[Database]:
    url = migrated_db_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    database = Database(url)
    database.upgrade()
    yield database
    database.dispose()


def test_planning_follows_the_end_and_happens_once(db: Database) -> None:
    now = datetime(2027, 3, 1, 9, tzinfo=UTC)
    after = timedelta(hours=2)
    starts = now + timedelta(days=1)
    spec = ActivitySpec.model_validate(
        {
            "slug": "plan-feedback",
            "kind": "dialoog",
            "title": {"nl": "Plannen", "en": "Planning"},
            "starts_at": starts,
            "ends_at": starts + timedelta(hours=2),
            "location": "Arnhem",
        }
    )
    with db.session() as session:
        upsert_activities(session, (spec,), ZONE, now)
        activity = get_activity(session, "plan-feedback")
        assert activity is not None
        for user in (PRESENT, NO_SHOW):
            touch_user(session, user, now)
            details = SignupDetails("Iemand", Role.OUDER, None, None, None)
            register(session, activity.id, user, details, now, join_waitlist=True)
        # Not over yet (the activity ends tomorrow): nothing owed.
        assert plan_feedback_requests(session, now + timedelta(days=1, hours=3), after) == 0
    # Moved a day later: the question follows the new end.
    new_start = starts + timedelta(days=1)
    moved = spec.model_copy(
        update={"starts_at": new_start, "ends_at": new_start + timedelta(hours=2)}
    )
    with db.session() as session:
        upsert_activities(session, (moved,), ZONE, now)
    later = now + timedelta(days=2, hours=4, minutes=1)
    with db.session() as session:
        assert plan_feedback_requests(session, now + timedelta(days=1, hours=5), after) == 0
        assert plan_feedback_requests(session, later, after) == 2
        assert plan_feedback_requests(session, later, after) == 0
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "feedback_request")
        ).all()
    end = starts + timedelta(days=1, hours=2)
    assert sorted(r.user_id for r in rows) == [PRESENT, NO_SHOW]
    assert {(r.due_at, r.deadline) for r in rows} == {
        (end + after, end + after + timedelta(days=7))
    }
    # More than a week after that it is no longer planned.
    with db.session() as session:
        assert plan_feedback_requests(session, end + after + timedelta(days=8), after) == 0


async def test_a_comment_typed_during_an_outage_can_be_sent_again(
    driver: BotDriver, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    activity_id = seed(driver, clock, [PRESENT])
    await after_the_end(driver, clock)
    await driver.messages_to(PRESENT, QUESTION)
    await driver.press(PRESENT, "⭐4")

    database = driver.services.db
    run_session = database.run_session

    async def away_when_saving(function: Any, *args: Any, **kwargs: Any) -> Any:
        # The database goes away just as the comment is written.
        if function is save_comment:
            raise DatabaseUnavailableError("timeout")
        return await run_session(function, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(database, "run_session", away_when_saving)
        calls = await driver.say(PRESENT, "Heel leerzaam")
    assert "Ik kan je gegevens nu even niet bereiken" in texts(calls)[0]
    calls = await driver.say(PRESENT, "Heel leerzaam")
    assert "Dank je wel" in texts(calls)[0]
    assert feedback_rows(driver) == [(activity_id, PRESENT, 4, "Heel leerzaam")]
