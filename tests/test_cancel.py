"""/annuleer: one bot-wide fallback ends whatever flow the user is in, whatever the order of
the handlers in group 0 (bot/cancelling.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from conftest import ADMIN_ID, FakeClock, texts
from db_proxy import FaultyProxy
from telegram.ext import ConversationHandler
from test_database_outage import AWAY_NL, answer
from test_feedback import after_the_end, feedback_rows, seed
from test_signup_flow import TEST_ACTIVITIES
from test_signup_outage import outage_config, recovered
from test_signup_outage import proxy as proxy  # the fixture, by its name

import bot.app
from bot.config import AppConfig
from bot.offline.driver import BotDriver
from bot.services import build_services
from core import callbacks
from core.services import Services
from storage.models import InboxMessage, InboxThread

PARENT = 5101
NOTHING = "niets om te stoppen"
SIGNUP_STOPPED = "gestopt met aanmelden"
STORY_STOPPED = "Ik heb niets verstuurd"
ACTIVITY_STOPPED = "Er is niets veranderd"


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    activities = config.activities.model_copy(update={"file": TEST_ACTIVITIES})
    return config.model_copy(update={"activities": activities})


def reverse_conversations(application: bot.app.MaoApplication) -> None:
    """Group 0 with its conversations in the opposite order (each in another's place)."""
    handlers = application.handlers[0]
    places = [i for i, h in enumerate(handlers) if isinstance(h, ConversationHandler)]
    conversations = [handlers[i] for i in places]
    for place, conversation in zip(places, reversed(conversations), strict=True):
        handlers[place] = conversation


@pytest.fixture(params=["as built", "conversations reversed"])
async def driver(
    request: pytest.FixtureRequest,
    services_factory: Callable[[], Services],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[BotDriver]:
    if request.param == "conversations reversed":
        register = bot.app.register_handlers

        def register_reordered(application: bot.app.MaoApplication, services: Services) -> None:
            register(application, services)
            reverse_conversations(application)

        monkeypatch.setattr(bot.app, "register_handlers", register_reordered)
    async with BotDriver(services_factory) as bot_driver:
        yield bot_driver
    assert bot_driver.standin.rejected == []


async def test_nothing_to_cancel_is_said_once(driver: BotDriver) -> None:
    calls = await driver.say(PARENT, "/annuleer")
    assert len(texts(calls)) == 1 and NOTHING in texts(calls)[0]
    calls = await driver.say(PARENT, "/cancel")
    assert len(texts(calls)) == 1


async def test_sign_up_ends_and_the_next_text_is_a_question(driver: BotDriver) -> None:
    await driver.say(PARENT, "/aanmelden")
    calls = await driver.say(PARENT, "/annuleer")
    assert [SIGNUP_STOPPED in t for t in texts(calls)] == [True]
    calls = await driver.say(PARENT, "wat is een fieldlab")
    assert not any("knoppen" in t for t in texts(calls))
    assert NOTHING in texts(await driver.say(PARENT, "/annuleer"))[0]


async def test_every_flow_the_user_is_in_ends(driver: BotDriver) -> None:
    await driver.say(PARENT, "/deelverhaal")
    await driver.say(PARENT, "/aanmelden")  # in the middle of the story
    said = texts(await driver.say(PARENT, "/annuleer"))
    assert sorted(said, key=len) == sorted(
        [t for t in said if SIGNUP_STOPPED in t or STORY_STOPPED in t], key=len
    )
    assert len(said) == 2
    assert NOTHING in texts(await driver.say(PARENT, "/annuleer"))[0]


async def test_an_organiser_activity_draft_ends(driver: BotDriver) -> None:
    await driver.say(ADMIN_ID, "/nieuweactiviteit")
    calls = await driver.say(ADMIN_ID, "/annuleer")
    assert [ACTIVITY_STOPPED in t for t in texts(calls)] == [True]
    assert NOTHING in texts(await driver.say(ADMIN_ID, "/annuleer"))[0]


async def test_a_flow_without_its_own_cancel_ends_too(driver: BotDriver, clock: FakeClock) -> None:
    """The feedback comment has no /annuleer of its own: it ends as if it lapsed."""
    activity_id = seed(driver, clock, [PARENT])
    await after_the_end(driver, clock)
    await driver.messages_to(PARENT, "Hoe vond je")
    await driver.press(PARENT, "⭐4")
    assert texts(await driver.say(PARENT, "/annuleer")) == ["Oké, gestopt."]
    # The next text is no comment.
    await driver.say(PARENT, "wat is een fieldlab")
    assert feedback_rows(driver) == [(activity_id, PARENT, 4, None)]


async def test_an_organiser_rewording_for_the_faq_ends(driver: BotDriver) -> None:
    """ "Voeg toe aan FAQ" waiting for new words is no ConversationHandler: it ends too."""
    question = "Waar kan ik de verslagen van vorige bijeenkomsten teruglezen?"
    now = driver.services.now()
    with driver.services.db.session() as session:
        thread = InboxThread(
            user_id=1001, first_name="Test", language="nl", kind="question", status="open",
            created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(thread)
        session.flush()
        session.add(
            InboxMessage(thread_id=thread.id, direction="in", text=question, created_at=now)
        )
        thread_id = thread.id
    await driver.press_data(ADMIN_ID, callbacks.FAQ_ADD_THREAD.data(thread=thread_id))
    await driver.press(ADMIN_ID, "herschrijven")
    assert texts(await driver.say(ADMIN_ID, "/annuleer")) == ["Niets toegevoegd."]
    # The organiser's next text is a question again, not the new words for the FAQ.
    said = texts(await driver.say(ADMIN_ID, question))
    assert not any("Bij welk onderwerp" in t for t in said)


async def test_the_database_away_says_so_and_ends_nothing(
    proxy: FaultyProxy,
    postgres_url: str,
    config: AppConfig,
    clock: FakeClock,
) -> None:
    """Which flow the user is in only the database knows: /annuleer says it cannot reach it
    (once: no "unknown command" after it), and the sign-up goes on after the outage."""
    faulty = outage_config(config, proxy, postgres_url)
    async with BotDriver(lambda: build_services(faulty, clock)) as driver:
        before = len(texts(await driver.say(PARENT, "/start signup_kleine-dialoog")))
        proxy.refuse()
        try:
            _, text = await answer(driver, PARENT, "/annuleer")
            assert AWAY_NL in text
            await asyncio.sleep(0.5)  # anything else the update would say
            said = texts(await driver.messages_to(PARENT, ""))[before:]
            assert len(said) == 1, said
        finally:
            proxy.heal()
        await recovered(driver)
        calls = await driver.say(PARENT, "/annuleer")
        assert [SIGNUP_STOPPED in t for t in texts(calls)] == [True]
