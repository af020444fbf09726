"""The sign-up, /mijnaanmeldingen, /mijngegevens and /vergeetmij during a database outage
(PostgreSQL behind a proxy that blackholes or refuses): what must write or must read says so
within 5 s in the user's language, nothing is half-done, other users' answers are not held
up, and after recovery a sign-up in progress goes on (or starts over) cleanly.

Run with `-s` to see the figures (seconds) of each fault."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from conftest import FakeClock
from db_proxy import FaultyProxy
from sqlalchemy import make_url
from test_database_outage import AWAY_NL, FAQ_QUESTION, TableLock, answer, until, with_url
from test_signup_flow import TEST_ACTIVITIES, registrations

from bot.config import AppConfig
from bot.offline.driver import BotDriver
from bot.services import build_services
from core import callbacks
from storage.db import DbTimeouts

GOES_ON, STARTS_OVER, ASKS_DATA, ASKS_FAQ = 7101, 7102, 7103, 7104


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[FaultyProxy]:
    """In front of the test's own PostgreSQL database."""
    upstream = make_url(postgres_url)
    faulty = FaultyProxy((upstream.host or "127.0.0.1", upstream.port or 5432))
    faulty.start()
    try:
        yield faulty
    finally:
        faulty.stop()


def outage_config(config: AppConfig, proxy: FaultyProxy, postgres_url: str) -> AppConfig:
    url = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
    faulty = with_url(config, url.render_as_string(hide_password=False))
    activities = faulty.activities.model_copy(update={"file": TEST_ACTIVITIES})
    return faulty.model_copy(update={"activities": activities})


async def to_the_summary(driver: BotDriver, user: int, name: str) -> None:
    await driver.say(user, "/start signup_kleine-dialoog")
    await driver.press(user, "Ouder")
    await driver.say(user, name)
    await driver.press(user, "Overslaan")
    await driver.press(user, "Geen vraag")
    calls = await driver.press(user, "akkoord")
    assert any("Bevestigen" in str(c.params) for c in calls)


async def recovered(driver: BotDriver) -> None:
    """The database answers again, and the bot knows it (it stops skipping it)."""
    db = driver.services.db
    await until(lambda: db.health.reason is None and not db.health.skipping, 30)


def start(fault: str, proxy: FaultyProxy) -> None:
    if fault == "blackhole":
        proxy.blackhole()
    else:
        proxy.refuse()


@pytest.mark.parametrize("fault", ["blackhole", "refuse"])
@pytest.mark.slow
async def test_a_sign_up_survives_an_outage(
    fault: str, proxy: FaultyProxy, postgres_url: str, config: AppConfig, clock: FakeClock
) -> None:
    figures: dict[str, float] = {}
    faulty = outage_config(config, proxy, postgres_url)
    async with BotDriver(lambda: build_services(faulty, clock)) as driver:
        await to_the_summary(driver, GOES_ON, "Anna de Vries")
        await to_the_summary(driver, STARTS_OVER, "Bert Jansen")
        start(fault, proxy)
        try:
            # The tap that writes: the user hears that it did not happen, and why.
            confirm = "#" + callbacks.SIGNUP_CONFIRM.data()
            figures["confirm"], text = await answer(driver, GOES_ON, confirm)
            assert AWAY_NL in text and "Bevestigen" in text, text
            # Starting over mid-outage forgets nothing yet: the picker cannot be read.
            figures["restart"], text = await answer(driver, STARTS_OVER, "/aanmelden")
            assert AWAY_NL in text and "/aanmelden" in text, text
            assert max(figures.values()) < 5.0, figures
        finally:
            proxy.heal()
        await recovered(driver)
        assert registrations(driver) == []  # nothing half-done
        # Going on: the same summary's button, pressed again.
        await driver.press(GOES_ON, "Bevestigen")
        assert await driver.messages_to(GOES_ON, "Je bent aangemeld")
        # Starting over: a new sign-up from the picker, cleanly to the end.
        calls = await driver.say(STARTS_OVER, "/aanmelden")
        assert "Voor welke activiteit" in str(calls[0].params.get("text"))
        await driver.press(STARTS_OVER, "Kleine dialoog")
        await driver.press(STARTS_OVER, "Ouder")
        await driver.say(STARTS_OVER, "Bert de Boer")
        await driver.press(STARTS_OVER, "Overslaan")
        await driver.press(STARTS_OVER, "Geen vraag")
        await driver.press(STARTS_OVER, "akkoord")
        await driver.press(STARTS_OVER, "Bevestigen")
        assert await driver.messages_to(STARTS_OVER, "Je bent aangemeld")
        assert registrations(driver) == [
            (GOES_ON, "Anna de Vries", "registered"),
            (STARTS_OVER, "Bert de Boer", "registered"),
        ]
    print(f"\n{fault}: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()))


async def test_a_confirmation_that_cannot_write_changes_nothing_and_can_be_pressed_again(
    proxy: FaultyProxy, postgres_url: str, config: AppConfig, clock: FakeClock
) -> None:
    """Another client locks the tables the seat's transaction writes (the conversation itself
    can be read): the seat is not taken, the user hears why, the summary stays."""
    faulty = outage_config(config, proxy, postgres_url)
    lock = TableLock(postgres_url)
    async with BotDriver(lambda: build_services(faulty, clock)) as driver:
        await to_the_summary(driver, GOES_ON, "Anna de Vries")
        await asyncio.to_thread(lock.take)
        try:
            confirm = "#" + callbacks.SIGNUP_CONFIRM.data()
            seconds, text = await answer(driver, GOES_ON, confirm)
            assert AWAY_NL in text and "Bevestigen" in text, text
            assert seconds < 5.0
        finally:
            lock.release()
        await recovered(driver)
        assert registrations(driver) == []
        await driver.press(GOES_ON, "Bevestigen")
        assert await driver.messages_to(GOES_ON, "Je bent aangemeld")
        assert registrations(driver) == [(GOES_ON, "Anna de Vries", "registered")]
    print(f"\nlock: confirm {seconds:.2f}")


def test_the_slowest_not_now_leaves_a_margin_under_five_seconds() -> None:
    """An update's worst path when the database stops answering: its state is read (given up
    after `read`, then answered from memory), then its one call (given up after `call`). That
    must leave a second for a busy machine: at 0.5 + 3.5 CI measured /mijngegevens at 5.19 s."""
    defaults = DbTimeouts()
    assert defaults.read + defaults.call <= 4.0 - 0.5


@pytest.mark.parametrize("fault", ["blackhole", "refuse"])
@pytest.mark.slow
async def test_my_data_registrations_and_erasure_during_an_outage(
    fault: str, proxy: FaultyProxy, postgres_url: str, config: AppConfig, clock: FakeClock
) -> None:
    figures: dict[str, float] = {}
    faulty = outage_config(config, proxy, postgres_url)
    async with BotDriver(lambda: build_services(faulty, clock)) as driver:
        await to_the_summary(driver, ASKS_DATA, "Carla Smit")
        await driver.press(ASKS_DATA, "Bevestigen")
        _, text = await answer(driver, ASKS_FAQ, FAQ_QUESTION)  # the matcher built
        await driver.say(ASKS_DATA, "/vergeetmij")
        start(fault, proxy)
        try:
            asked = time.monotonic()
            my_data = asyncio.create_task(answer(driver, ASKS_DATA, "/mijngegevens"))
            # Meanwhile someone else's question: the database work of /mijngegevens must
            # not hold up the event loop (a blackhole held it for seconds).
            await asyncio.sleep(0.7)
            figures["faq"], text = await answer(driver, ASKS_FAQ, FAQ_QUESTION)
            assert "fieldlab" in text.lower(), text
            figures["mydata"], text = await my_data
            assert AWAY_NL in text and "/mijngegevens" in text, text
            figures["mydata_since_asked"] = time.monotonic() - asked
            figures["mine"], text = await answer(driver, ASKS_DATA, "/mijnaanmeldingen")
            assert AWAY_NL in text and "/mijnaanmeldingen" in text, text
            erase = "#" + callbacks.FORGET.data(answer="yes")
            figures["forget"], text = await answer(driver, ASKS_DATA, erase)
            assert AWAY_NL in text and "Ja, wis alles" in text, text
            assert figures["faq"] < 1.0, figures
            assert max(figures["mydata"], figures["mine"], figures["forget"]) < 5.0, figures
        finally:
            proxy.heal()
        await recovered(driver)
        # Nothing was erased: everything is still there.
        calls = await driver.say(ASKS_DATA, "/mijngegevens")
        assert "Carla Smit" in str(calls[0].params.get("text")), calls[0]
        calls = await driver.say(ASKS_DATA, "/mijnaanmeldingen")
        assert "Kleine dialoog" in str([c.params.get("text") for c in calls])
    print(f"\n{fault}: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()))
