"""/privacy, /mijngegevens, /vergeetmij."""

from __future__ import annotations

from conftest import texts
from sqlalchemy import func, select

from bot.offline.driver import BotDriver
from storage.models import User
from storage.vocabulary import Role

USER = 1002


async def test_privacy_explains_what_why_and_how_long(driver: BotDriver) -> None:
    text = texts(await driver.say(USER, "/privacy"))[0]
    assert "183 dagen" in text and "90 dagen" in text
    assert "/vergeetmij" in text and "/mijngegevens" in text


async def test_my_data_shows_what_is_stored(driver: BotDriver) -> None:
    text = texts(await driver.say(USER, "/mijngegevens"))[0]
    assert str(USER) in text
    assert "maandag 1 maart 2027" in text


async def test_forget_me_deletes_after_confirmation(driver: BotDriver) -> None:
    await driver.say(USER, "/vergeetmij")
    calls = await driver.press(USER, "Nee")
    assert "niets gewist" in texts(calls)[0]
    await driver.say(USER, "/vergeetmij")
    calls = await driver.press(USER, "Ja")
    assert "gewist" in texts(calls)[0]
    with driver.services.db.session() as session:
        # The press itself is an update from the user, but erasure happens after tracking.
        assert session.scalar(select(func.count()).select_from(User)) == 0


async def test_forget_me_removes_registrations_and_deliveries_and_frees_the_seat(
    driver: BotDriver,
) -> None:
    from datetime import timedelta

    from storage.activities import ActivitySpec, get_activity, upsert_activities
    from storage.broadcasts import create_broadcast
    from storage.models import OutboxMessage, Registration
    from storage.registrations import SignupDetails, register
    from storage.vocabulary import Recipients

    services = driver.services
    now = services.now()
    spec = ActivitySpec.model_validate(
        {
            "slug": "vol",
            "kind": "dialoog",
            "title": {"nl": "Volle dialoog", "en": "Full"},
            "starts_at": now + timedelta(days=30),
            "ends_at": now + timedelta(days=30, hours=2),
            "location": "Arnhem",
            "capacity": 1,
        }
    )
    await driver.say(USER, "/start")
    await driver.say(USER + 1, "/start")
    with services.db.session() as session:
        upsert_activities(session, (spec,), services.config.zone, now)
        activity = get_activity(session, "vol")
        assert activity is not None
        details = SignupDetails("Naam", Role.OUDER, None, "a@example.org", "vraag")
        register(session, activity.id, USER, details, now, join_waitlist=True)
        register(session, activity.id, USER + 1, details, now, join_waitlist=True)
        create_broadcast(session, 9001, Recipients.EVERYONE, None, "Nieuws", now)
    await driver.say(USER, "/vergeetmij")
    await driver.press(USER, "Ja")
    told = await driver.messages_to(USER + 1, "Goed nieuws")
    with services.db.session() as session:
        remaining = session.execute(select(Registration.user_id, Registration.status)).all()
        recipients = session.scalars(select(OutboxMessage.user_id)).all()
    assert remaining == [(USER + 1, "registered")]
    assert USER not in recipients
    assert len(told) == 1
