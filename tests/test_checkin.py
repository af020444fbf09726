"""Check-in at the door: the organiser's toggles, the attendee's QR deep link, turnout."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import ADMIN_ID, FakeClock, texts

from bot.config import AppConfig
from bot.offline.driver import BotDriver
from bot.offline.standin import ApiCall
from core import callbacks
from storage.activities import get_activity
from storage.models import Activity, Registration
from storage.registrations import SignupDetails, Turnout, no_shows, register, turnout
from storage.vocabulary import Role

TEST_ACTIVITIES = Path(__file__).resolve().parent / "data" / "activities-test.yaml"
ANNA, BRAM, STRANGER = 5001, 5002, 5003
# kleine-dialoog: 2027-05-18 14:00-16:00 in Amsterdam (12:00-14:00 UTC).
DOOR_TIME = datetime(2027, 5, 18, 11, 45, tzinfo=UTC)


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    activities = config.activities.model_copy(update={"file": TEST_ACTIVITIES})
    return config.model_copy(update={"activities": activities})


async def seat(driver: BotDriver, user: int, name: str) -> int:
    await driver.say(user, "/start")
    services = driver.services
    with services.db.session() as session:
        activity = get_activity(session, "kleine-dialoog")
        assert activity is not None
        details = SignupDetails(name, Role.OUDER, None, None, None)
        register(session, activity.id, user, details, services.now(), join_waitlist=True)
        return activity.id


def edits(calls: list[ApiCall]) -> list[str]:
    return [str(c.params.get("text", "")) for c in calls if c.method == "editMessageText"]


def said(calls: list[ApiCall]) -> str:
    """Everything the bot sent: what it owed the person meanwhile (the sign-up confirmation,
    a reminder due on the day) may arrive among the answers to their update."""
    return "\n".join(texts(calls))


def attended(driver: BotDriver, user: int) -> bool | None:
    with driver.services.db.session() as session:
        return session.query(Registration).filter_by(user_id=user).one().attended


async def test_organiser_checks_people_in_by_toggle(driver: BotDriver, clock: FakeClock) -> None:
    activity_id = await seat(driver, ANNA, "Anna")
    await seat(driver, BRAM, "Bram")
    clock.moment = DOOR_TIME
    calls = await driver.say(ADMIN_ID, "/incheck")
    assert "Voor welke activiteit" in texts(calls)[0]
    calls = await driver.press(ADMIN_ID, "Kleine dialoog")
    [shown] = edits(calls)
    assert "◻️ nog niet: 2" in shown
    # A QR code for the door, with the deep link in its caption.
    [photo] = [c for c in calls if c.method == "sendPhoto"]
    assert "?start=checkin_" in str(photo.params.get("caption"))
    calls = await driver.press(ADMIN_ID, "◻️ Anna")
    assert "✅ aanwezig: 1" in edits(calls)[0]
    assert attended(driver, ANNA) is True
    with driver.services.db.session() as session:
        assert session.query(Registration).filter_by(user_id=ANNA).one().checked_in_at
    calls = await driver.press(ADMIN_ID, "◻️ Bram")
    calls = await driver.press(ADMIN_ID, "✅ Bram")
    assert "❌ afwezig: 1" in edits(calls)[0]
    assert attended(driver, BRAM) is False
    with driver.services.db.session() as session:
        assert turnout(session, activity_id) == Turnout(
            registered=2, present=1, absent=1, unknown=0
        )
        assert no_shows(session, activity_id, clock()) == []  # not over yet
        assert no_shows(session, activity_id, datetime(2027, 5, 19, tzinfo=UTC)) == ["Bram"]
    calls = await driver.press(ADMIN_ID, "❌ Bram")
    assert attended(driver, BRAM) is None


async def door_qr_code(driver: BotDriver) -> str:
    """The code in the QR code /incheck shows the organiser now."""
    await driver.say(ADMIN_ID, "/incheck")
    calls = await driver.press(ADMIN_ID, "Kleine dialoog")
    [photo] = [c for c in calls if c.method == "sendPhoto"]
    found = re.search(r"start=checkin_(\S+)", str(photo.params.get("caption")))
    assert found is not None
    return found.group(1)


async def test_attendee_checks_in_by_qr_deep_link(driver: BotDriver, clock: FakeClock) -> None:
    activity_id = await seat(driver, ANNA, "Anna")
    await seat(driver, BRAM, "Bram")
    clock.moment = DOOR_TIME
    code = await door_qr_code(driver)
    # Weeks before, the code does not check anyone in; it says when it will.
    clock.moment = datetime(2027, 5, 1, 9, 0, tzinfo=UTC)
    calls = await driver.say(ANNA, f"/start checkin_{code}")
    assert "kan vanaf dinsdag 18 mei 2027, 10:00" in said(calls)
    assert attended(driver, ANNA) is None
    # On the day, 4 hours before the start: still too early.
    clock.moment = datetime(2027, 5, 18, 7, 59, tzinfo=UTC)
    calls = await driver.say(ANNA, f"/start checkin_{code}")
    assert "kan vanaf dinsdag 18 mei 2027, 10:00" in said(calls)
    clock.moment = DOOR_TIME
    calls = await driver.say(ANNA, f"/start checkin_{code}")
    assert "Je bent ingecheckt" in said(calls)
    assert attended(driver, ANNA) is True
    calls = await driver.say(ANNA, f"/start checkin_{code}")
    assert "al ingecheckt" in said(calls)
    # Someone without a seat is told kindly, and nothing is stored for them.
    calls = await driver.say(STRANGER, f"/start checkin_{code}")
    assert "niet aangemeld" in said(calls)
    with driver.services.db.session() as session:
        assert session.query(Registration).filter_by(user_id=STRANGER).count() == 0
    calls = await driver.say(STRANGER, "/start checkin_onbekend1")
    assert "ken ik niet" in said(calls)
    # The activity's secret alone (what a link used to carry) is no code.
    with driver.services.db.session() as session:
        secret = session.get(Activity, activity_id).checkin_code  # type: ignore[union-attr]
    assert secret and secret not in code
    assert "ken ik niet" in said(await driver.say(BRAM, f"/start checkin_{secret}"))
    forged = code[:-1] + ("B" if code.endswith("A") else "A")
    assert "ken ik niet" in said(await driver.say(BRAM, f"/start checkin_{forged}"))
    # Once it has ended (16:00), the day's code no longer checks anyone in, from home either.
    clock.moment = datetime(2027, 5, 18, 14, 30, tzinfo=UTC)
    calls = await driver.say(BRAM, f"/start checkin_{code}")
    assert "geldt niet meer" in said(calls)
    assert attended(driver, BRAM) is None


async def test_the_qr_code_is_the_days_own(driver: BotDriver, clock: FakeClock) -> None:
    """Every day of an activity has its own code; the QR shows the current day's."""
    activity_id = await seat(driver, ANNA, "Anna")
    with driver.services.db.session() as session:
        activity = session.get(Activity, activity_id)
        assert activity is not None
        activity.ends_at = activity.starts_at + timedelta(days=1)  # now over two days
    clock.moment = DOOR_TIME
    first_day = await door_qr_code(driver)
    clock.moment = DOOR_TIME + timedelta(days=1)
    second_day = await door_qr_code(driver)
    assert first_day != second_day
    # A reminder that fell due when the clock moved may arrive during the same call.
    calls = await driver.say(ANNA, f"/start checkin_{first_day}")
    assert any("geldt niet meer" in text for text in texts(calls)), texts(calls)
    calls = await driver.say(ANNA, f"/start checkin_{second_day}")
    assert any("Je bent ingecheckt" in text for text in texts(calls)), texts(calls)


async def test_only_organisers_check_people_in(driver: BotDriver, clock: FakeClock) -> None:
    activity_id = await seat(driver, ANNA, "Anna")
    clock.moment = DOOR_TIME
    with driver.services.db.session() as session:
        registration_id = session.query(Registration).filter_by(user_id=ANNA).one().id
    refused = "alleen de organisatoren"
    for command in ("/incheck", "/checkin"):
        calls = await driver.say(STRANGER, command)
        assert refused in texts(calls)[0]
    for data in (
        callbacks.CHECKIN_OF.data(activity=activity_id),
        callbacks.CHECKIN_TOGGLE.data(activity=activity_id, registration=registration_id),
    ):
        calls = await driver.press_data(ANNA, data)
        assert refused in " ".join(texts(calls)), data
        assert not [c for c in calls if c.method in ("sendPhoto", "editMessageText")]
    assert attended(driver, ANNA) is None
    # A forged toggle naming another activity's registration changes nothing.
    calls = await driver.press_data(
        ADMIN_ID, callbacks.CHECKIN_TOGGLE.data(activity=activity_id + 1, registration=1)
    )
    assert attended(driver, ANNA) is None
