"""Quiet hours (issue 19, §5): between 21:00 and 08:00 (Europe/Amsterdam) announcements and
feedback questions wait; a reminder that would fall then goes the evening before at 20:00;
an organiser sending "now" at night is asked once; confirmations are never held.

The clock is the test's own (FakeClock): March 2027, so local time is UTC+1."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import ADMIN_ID, FakeClock, texts
from sqlalchemy import select

from bot.config import AppConfig
from bot.offline.driver import BotDriver
from storage.activities import ActivitySpec, get_activity, upsert_activities
from storage.models import OutboxMessage
from storage.outbox import OutboxKind
from storage.quiet_hours import QuietHours
from storage.registrations import SignupDetails, register
from storage.users import touch_user
from storage.vocabulary import Role

ZONE = ZoneInfo("Europe/Amsterdam")
EARLY, LATE, OTHER = 4001, 4002, 4003
NIGHT = QuietHours(time(21), time(8), ZONE)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, 3, day, hour, minute, tzinfo=ZONE)


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    # The shipped default (tests elsewhere switch it off: they may run on the real clock).
    quiet = config.broadcast.model_copy(update={"quiet_hours": (time(21), time(8))})
    return config.model_copy(update={"broadcast": quiet})


def seed(driver: BotDriver, clock: FakeClock, starts: datetime, reminders: list[str]) -> int:
    spec = ActivitySpec.model_validate(
        {
            "slug": "ochtend",
            "kind": "dialoog",
            "title": {"nl": "Ochtenddialoog", "en": "Morning dialogue"},
            "starts_at": starts,
            "ends_at": starts + timedelta(hours=2),
            "location": "Arnhem",
            "reminders": reminders,
        }
    )
    with driver.services.db.session() as session:
        upsert_activities(session, (spec,), ZONE, clock())
        activity = get_activity(session, "ochtend")
        assert activity is not None
        return activity.id


def sign_up(driver: BotDriver, clock: FakeClock, activity_id: int, user: int) -> None:
    with driver.services.db.session() as session:
        touch_user(session, user, clock())
        details = SignupDetails(f"Deelnemer {user}", Role.OUDER, None, None, None)
        register(session, activity_id, user, details, clock(), join_waitlist=False)


def reminders_due(driver: BotDriver) -> dict[int, datetime]:
    with driver.services.db.session() as session:
        rows = session.execute(
            select(OutboxMessage.user_id, OutboxMessage.due_at).where(
                OutboxMessage.kind == OutboxKind.REMINDER.value
            )
        ).all()
    return {user: due.astimezone(ZONE) for user, due in rows}


def received(driver: BotDriver, user: int, containing: str) -> list[str]:
    return [t for t in driver.standin.delivered_texts(user) if containing in t]


def test_reminder_moments() -> None:
    signed_up = local(1, 10)
    starts = local(4, 9)
    # 07:00 is quiet: the evening before at 20:00.
    assert NIGHT.reminder_moment(local(4, 7), signed_up, signed_up, starts) == local(3, 20)
    assert NIGHT.reminder_moment(local(3, 23), signed_up, signed_up, starts) == local(3, 20)
    # Outside the quiet hours: as planned.
    assert NIGHT.reminder_moment(local(3, 9), signed_up, signed_up, starts) == local(3, 9)
    # Signed up at 22:30: not before the sign-up; at 08:00, still before the start.
    late = local(3, 22, 30)
    assert NIGHT.reminder_moment(local(4, 7), late, late, starts) == local(4, 8)
    # Signed up at 20:30: at once, still before the quiet hours.
    evening = local(3, 20, 30)
    assert NIGHT.reminder_moment(local(4, 7), evening, evening, starts) == evening
    # Starting at 07:30, signed up at 23:00: 08:00 is too late, so as planned.
    early_start = local(4, 7, 30)
    at_night = local(3, 23)
    assert NIGHT.reminder_moment(local(4, 5, 30), at_night, at_night, early_start) == local(
        4, 5, 30
    )


async def test_reminder_in_quiet_hours_goes_the_evening_before(
    driver: BotDriver, clock: FakeClock
) -> None:
    # Thursday 4 March, 09:00: the 2-hour reminder would come at 07:00.
    activity_id = seed(driver, clock, local(4, 9), ["2h"])
    sign_up(driver, clock, activity_id, EARLY)
    await driver.deliver_owed()
    clock.moment = local(3, 18).astimezone(UTC)
    await driver.deliver_owed()
    assert reminders_due(driver)[EARLY] == local(3, 20)
    clock.moment = local(3, 19, 59).astimezone(UTC)
    await driver.deliver_owed()
    assert received(driver, EARLY, "<b>Herinnering</b>") == []
    clock.moment = local(3, 20).astimezone(UTC)
    await driver.deliver_owed()
    [reminder] = received(driver, EARLY, "<b>Herinnering</b>")
    assert "Ochtenddialoog" in reminder

    # Signing up at 22:30 that evening: the confirmation comes at once (never held), the
    # reminder not before the sign-up but at 08:00, before the start.
    clock.moment = local(3, 22, 30).astimezone(UTC)
    sign_up(driver, clock, activity_id, LATE)
    await driver.deliver_owed()
    assert received(driver, LATE, "Je bent aangemeld")
    clock.advance(timedelta(minutes=2))
    await driver.deliver_owed()
    assert reminders_due(driver)[LATE] == local(4, 8)


async def test_feedback_question_waits_for_the_morning(
    driver: BotDriver, clock: FakeClock
) -> None:
    # Ends Monday 1 March at 19:30: the question is due at 21:30, in the quiet hours.
    activity_id = seed(driver, clock, local(1, 17, 30), [])
    sign_up(driver, clock, activity_id, EARLY)
    await driver.deliver_owed()
    clock.moment = local(1, 21, 35).astimezone(UTC)
    await driver.deliver_owed()
    assert received(driver, EARLY, "Hoe vond je") == []
    clock.moment = local(2, 7, 59).astimezone(UTC)
    await driver.deliver_owed()
    assert received(driver, EARLY, "Hoe vond je") == []
    clock.moment = local(2, 8).astimezone(UTC)
    await driver.deliver_owed()
    assert len(received(driver, EARLY, "Hoe vond je")) == 1


async def announce_at_night(driver: BotDriver, text: str) -> list[str]:
    await driver.say(ADMIN_ID, "/omroep")
    await driver.press(ADMIN_ID, "Iedereen")
    await driver.say(ADMIN_ID, text)
    await driver.press(ADMIN_ID, "Overslaan")
    return texts(await driver.press(ADMIN_ID, "Versturen"))


async def test_announcement_at_night_asks_once_now_or_at_eight(
    driver: BotDriver, clock: FakeClock
) -> None:
    with driver.services.db.session() as session:
        for user in (EARLY, OTHER):
            touch_user(session, user, clock())
    clock.moment = local(1, 23, 30).astimezone(UTC)

    asked = await announce_at_night(driver, "Nieuws voor morgen")
    assert "stille tijd (21:00–08:00)" in asked[0]
    calls = await driver.press(ADMIN_ID, "Om 08:00")
    assert "Ingepland" in texts(calls)[0] and "08:00" in texts(calls)[0]
    await driver.deliver_owed()
    assert received(driver, EARLY, "Nieuws voor morgen") == []
    clock.moment = local(2, 8).astimezone(UTC)
    await driver.deliver_owed()
    assert received(driver, EARLY, "Nieuws voor morgen") == ["Nieuws voor morgen"]

    clock.moment = local(2, 23).astimezone(UTC)
    asked = await announce_at_night(driver, "Dringend: morgen geen dialoog")
    assert "stille tijd" in asked[0]
    await driver.press(ADMIN_ID, "Toch nu versturen")
    await driver.deliver_owed()
    assert received(driver, OTHER, "Dringend") == ["Dringend: morgen geen dialoog"]
