"""/privacy, /mijngegevens, /vergeetmij."""

from __future__ import annotations

from conftest import texts
from sqlalchemy import func, select

from bot.driver import BotDriver
from storage.models import User

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
