"""Conversation: small talk, the language of the question, follow-ups, and the hand-over
button of the fallback and "Geen van deze"."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from conftest import FakeClock, texts
from sqlalchemy import select
from test_agenda_answers import seed, when

from bot.config import AppConfig
from bot.offline.driver import BotDriver, buttons_of
from bot.services import build_services
from core import callbacks
from core.pending_questions import latest_question
from faq.language import detect_language
from faq.smalltalk import Talk, refers_back, small_talk
from handlers.faq import TOPIC_KEY
from storage.models import User

USER = 4301
HANDOVER = "Stel je vraag aan het programmabureau"


def labels(message: dict[str, Any] | None) -> list[str]:
    return [label for label, _ in buttons_of(message or {})]


def remembered(driver: BotDriver, user: int = USER) -> dict[str, Any]:
    """The newest question kept for a hand-over button (core/pending_questions.py)."""
    assert driver.application is not None
    kept = latest_question(driver.application.user_data[user], driver.services.now())
    assert kept is not None
    return {"question": kept.question, "guesses": list(kept.guesses)}


# -- small talk (pure) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "talk"),
    [
        ("hallo", Talk.GREETING),
        ("Hallo!!", Talk.GREETING),
        ("hoi", Talk.GREETING),
        ("hoiii 👋", Talk.GREETING),
        ("Goedemorgen", Talk.GREETING),
        ("goedemorgn", Talk.GREETING),
        ("goede morgen!", Talk.GREETING),
        ("hi", Talk.GREETING),
        ("Hello there", Talk.GREETING),
        ("hey allemaal 😊", Talk.GREETING),
        ("👋", Talk.GREETING),
        ("dankjewel!", Talk.THANKS),
        ("dank je wel", Talk.THANKS),
        ("dankje wel 🙏", Talk.THANKS),
        ("dankjwel", Talk.THANKS),
        ("Bedankt", Talk.THANKS),
        ("bedankr", Talk.THANKS),
        ("heel erg bedankt hoor", Talk.THANKS),
        ("bedankt voor de info!", Talk.THANKS),
        ("thanks", Talk.THANKS),
        ("Thank you so much!", Talk.THANKS),
        ("thx", Talk.THANKS),
        ("ok bedankt", Talk.THANKS),
        ("🙏", Talk.THANKS),
        ("help", Talk.HELP),
        ("Help!", Talk.HELP),
        ("hulp", Talk.HELP),
        ("kun je me helpen?", Talk.HELP),
        ("wie ben jij", Talk.WHO),
        ("Wie ben je?", Talk.WHO),
        ("hoi, wie ben jij?", Talk.WHO),
        ("who are you?", Talk.WHO),
        ("wat kun je", Talk.CAPABILITIES),
        ("wat kun je allemaal?", Talk.CAPABILITIES),
        ("wat kan jij doen", Talk.CAPABILITIES),
        ("what can you do?", Talk.CAPABILITIES),
        ("ben jij een echt mens", Talk.HUMAN),
        ("ben je een mens?", Talk.HUMAN),
        ("Ben je een robot?", Talk.HUMAN),
        ("ben je een bot 🤖", Talk.HUMAN),
        ("ben jij echt een mens of een bot", Talk.HUMAN),
        ("praat ik met een mens?", Talk.HUMAN),
        ("ben je een mnes", Talk.HUMAN),
        ("am I talking to a human", Talk.HUMAN),
        ("Are you a bot?", Talk.HUMAN),
        ("are you a real person?", Talk.HUMAN),
        ("ik wil een mens spreken", Talk.HUMAN),
        ("doei", Talk.GOODBYE),
        ("tot ziens!", Talk.GOODBYE),
        ("bye", Talk.GOODBYE),
        ("fijne dag nog", Talk.GOODBYE),
        ("ok", Talk.OK),
        ("oké", Talk.OK),
        ("Okee", Talk.OK),
        ("👍", Talk.OK),
        ("👍👍", Talk.OK),
        ("top", Talk.OK),
        ("ik heb een vraag", Talk.ASK),
        ("hoe gaat het?", Talk.HOW_ARE_YOU),
    ],
)
def test_small_talk_is_recognised(text: str, talk: Talk) -> None:
    assert small_talk(text) is talk


@pytest.mark.parametrize(
    "text",
    [
        "hoi, wat is een fieldlab?",
        "hallo ik wil me aanmelden",
        "Goedemorgen, wanneer is de masterclass?",
        "dank je voor de info over de masterclass",
        "help mij met aanmelden",
        "hoe werkt dat?",
        "wat is dat?",
        "hoe laat is het",
        "wie is de netwerkregisseur",
        "hoe gaat het met mijn aanmelding",
        "is dit een goede plek voor ouders",
        "ok maar hoe meld ik me af",
        "mijn kind is een mens met autisme",
        "",
        "😀",
    ],
)
def test_a_real_question_is_not_small_talk(text: str) -> None:
    assert small_talk(text) is None


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("how do I cancel my registration", "en"),
        ("when is the masterclass?", "en"),
        ("and where is it?", "en"),
        ("can you delete my data", "en"),
        ("Hoe meld ik me af voor de dialoog?", "nl"),
        ("wat is jullie mailadres", "nl"),
        ("wanneer is de masterclass netwerkregie", "nl"),
        ("fieldlab", None),
        ("hoi", None),
        ("is dat online", None),  # short, one marker: unclear
        ("masterclass netwerkregie online", None),
    ],
)
def test_language_of_the_question(text: str, language: str | None) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize(
    ("text", "back"),
    [
        ("en wanneer is die?", True),
        ("hoe meld ik me daarvoor aan?", True),
        ("is dat online?", True),
        ("and where is it?", True),
        ("wanneer is de masterclass netwerkregie", False),
        ("wat is een fieldlab", False),
        (
            "ik heb een zoon die al een half jaar thuis zit en ik weet niet meer wat ik moet doen",
            False,
        ),
    ],
)
def test_refers_back(text: str, back: bool) -> None:
    assert refers_back(text) is back


# -- through the bot ---------------------------------------------------------------------------


async def test_small_talk_gets_short_friendly_replies(driver: BotDriver) -> None:
    answer = texts(await driver.say(USER, "hallo!"))[0]
    assert answer.startswith("Hoi! 👋") and "/agenda" in answer
    assert texts(await driver.say(USER, "dankjewel!"))[0].startswith("Graag gedaan")
    assert "Met Andere Ogen" in texts(await driver.say(USER, "wie ben jij?"))[0]
    assert "/aanmelden" in texts(await driver.say(USER, "wat kun je allemaal"))[0]
    assert texts(await driver.say(USER, "doei"))[0].startswith("Dag!")
    assert texts(await driver.say(USER, "👍"))[0].startswith("👍")
    # "help" is what /help says.
    assert texts(await driver.say(USER, "help")) == texts(await driver.say(USER, "/help"))
    # English small talk from a Dutch user, and an English user, in English.
    assert texts(await driver.say(USER, "Thank you so much!"))[0].startswith("You're welcome")
    driver.languages[USER + 1] = "en"
    assert texts(await driver.say(USER + 1, "hello"))[0].startswith("Hi! 👋")
    # A greeting followed by a question is a question.
    entry = driver.services.faq.entry("fieldlab")
    assert entry is not None
    answer = texts(await driver.say(USER, "hoi, wat is een fieldlab?"))[0]
    assert answer.startswith(entry.nl.answer)


async def test_are_you_human_is_answered_honestly_with_the_handover(driver: BotDriver) -> None:
    answer = texts(await driver.say(USER, "ben jij een echt mens?"))[0]
    assert answer.startswith("Nee, ik ben een bot")
    assert "metandereogen@vng.nl" in answer
    message = driver.latest_message(USER)
    assert message is not None and labels(message) == [HANDOVER]
    # The button asks for the question: "ben je een mens?" is small talk, not a question
    # for the programme office, and an older unanswered question is not offered either.
    asked = "\n".join(texts(await driver.press(USER, HANDOVER)))
    assert "Typ je vraag voor het programmabureau" in asked and "mens" not in asked
    preview = "\n".join(texts(await driver.say(USER, "Wie regelt de zaal op 18 mei?")))
    assert "Wie regelt de zaal op 18 mei?" in preview and "Zal ik het versturen?" in preview
    assert "mens" not in preview
    answer = texts(await driver.say(USER, "am I talking to a human?"))[0]
    assert answer.startswith("No, I'm a bot")


async def test_english_question_with_dutch_setting_is_answered_in_english(
    driver: BotDriver,
) -> None:
    entry = driver.services.faq.entry("afmelden")
    assert entry is not None
    answer = texts(await driver.say(USER, "how do I cancel my registration?"))[0]
    assert answer.startswith(entry.en.answer)
    # Its buttons answer in English too.
    label, data = buttons_of(driver.latest_message(USER) or {})[0]
    related = driver.services.faq.entry(data.rsplit(":", 1)[-1])
    assert related is not None and label == related.en.question
    answer = texts(await driver.press(USER, 1))[0]
    assert answer.startswith(related.en.answer)
    # The setting stays Dutch: a Dutch question, and a short unclear one, get Dutch.
    answer = texts(await driver.say(USER, "hoe meld ik me af?"))[0]
    assert answer.startswith(entry.nl.answer)
    with driver.services.db.session() as session:
        language = session.scalars(select(User.language).where(User.telegram_id == USER)).one()
    assert language in (None, "nl")
    # The fallback too, and its button.
    answer = texts(await driver.say(USER, "what is the weather going to be like in Tokyo?"))[0]
    assert answer.startswith("Sorry, I don't have a good answer")
    message = driver.latest_message(USER)
    assert message is not None
    assert labels(message) == ["Ask the programme office"]


async def test_fallback_offers_the_handover_and_remembers_the_question(
    driver: BotDriver,
) -> None:
    answer = texts(await driver.say(USER, "hoe laat is het in Tokio"))[0]
    assert "geen goed antwoord" in answer and "programmabureau" in answer
    assert "metandereogen@vng.nl" in answer  # mail stays an alternative
    message = driver.latest_message(USER)
    assert message is not None and labels(message) == [HANDOVER]
    assert driver.application is not None
    assert remembered(driver)["question"] == "hoe laat is het in Tokio"
    preview = "\n".join(texts(await driver.press(USER, HANDOVER)))
    assert "hoe laat is het in Tokio" in preview


@pytest.fixture
def suggesting(config: AppConfig) -> AppConfig:
    """Thresholds that put every question in the middle band ("Bedoelde je…?")."""
    thresholds = config.faq.thresholds.model_copy(update={"answer": 100.0, "suggest": 0.0})
    return config.model_copy(
        update={"faq": config.faq.model_copy(update={"thresholds": thresholds})}
    )


async def test_none_of_these_offers_the_handover_of_that_question(
    suggesting: AppConfig, clock: FakeClock
) -> None:
    async with BotDriver(lambda: build_services(suggesting, clock)) as driver:
        calls = await driver.say(USER, "fieldlab masterclass")
        assert texts(calls) == ["Ik weet niet zeker wat je bedoelt. Bedoelde je…?"]
        message = driver.latest_message_with_buttons(USER)
        assert message is not None
        guesses = [
            data.removeprefix("faq:pick:")
            for _, data in buttons_of(message)
            if data.startswith("faq:pick:")
        ]
        await driver.say(USER, "hallo")  # small talk in between changes nothing
        calls = await driver.press_data(USER, callbacks.FAQ_NONE.data(), message)
        answer = texts(calls)[-1]
        assert "programmabureau" in answer and "metandereogen@vng.nl" in answer
        assert labels(driver.latest_message(USER)) == [HANDOVER]
        assert driver.application is not None
        assert remembered(driver)["question"] == "fieldlab masterclass"
        assert remembered(driver)["guesses"] == guesses
        # Pressed again (an old message): the question is not known twice; mail remains.
        calls = await driver.press_data(USER, callbacks.FAQ_NONE.data(), message)
        assert "metandereogen@vng.nl" in texts(calls)[-1]
        assert buttons_of(driver.latest_message(USER) or {}) == []
        # Two suggestions in a row: each "Geen van deze" belongs to its own question.
        await driver.say(USER, "fieldlab masterclass")
        older = driver.latest_message_with_buttons(USER)
        await driver.say(USER, "dialoog doen-dag")
        newer = driver.latest_message_with_buttons(USER)
        assert older is not None and newer is not None and older != newer
        await driver.press_data(USER, callbacks.FAQ_NONE.data(), older)
        assert buttons_of(driver.latest_message(USER) or {}) == []
        await driver.press_data(USER, callbacks.FAQ_NONE.data(), newer)
        assert labels(driver.latest_message(USER)) == [HANDOVER]
        assert remembered(driver)["question"] == "dialoog doen-dag"
        assert driver.standin.rejected == []


async def test_follow_up_on_an_activity_uses_the_topic(
    driver: BotDriver, clock: FakeClock
) -> None:
    ids = seed(driver, clock)
    await driver.say(USER, "wanneer is de masterclass netwerkregie")
    answer = texts(await driver.say(USER, "is dat online?"))[0]
    assert answer.startswith("Nee, deze activiteit is niet online")
    assert "Masterclass Netwerkregie" in answer
    await driver.say(USER, "hoe meld ik me daarvoor aan?")
    message = driver.latest_message(USER)
    assert message is not None
    assert (
        "Aanmelden: Masterclass Netwerkregie",
        callbacks.SIGNUP_PICK.data(activity=ids["masterclass-netwerkregie"]),
    ) in buttons_of(message)
    # In English too, and the topic survives a restart (persisted user data).
    await driver.restart()
    answer = texts(await driver.say(USER, "and where is it?"))[0]
    assert "Karakter, Arnhem" in answer and "Masterclass Network direction" in answer
    # A question of its own is not taken for a follow-up.
    answer = texts(await driver.say(USER, "hoe laat is het in Tokio"))[0]
    assert "geen goed antwoord" in answer
    # Much later, "is dat online?" no longer refers to the masterclass.
    clock.advance(timedelta(minutes=11))
    answer = texts(await driver.say(USER, "is dat online?"))[0]
    assert "Masterclass Netwerkregie" not in answer


async def test_follow_up_on_a_faq_answer_uses_its_topic(
    driver: BotDriver, clock: FakeClock
) -> None:
    seed(driver, clock)
    entry = driver.services.faq.entry("fieldlab")
    assert entry is not None
    assert texts(await driver.say(USER, "wat is een fieldlab?"))[0].startswith(entry.nl.answer)
    assert driver.application is not None
    assert driver.application.user_data[USER][TOPIC_KEY]["id"] == "fieldlab"
    answer = texts(await driver.say(USER, "en wanneer is die?"))[0]
    assert "Fieldlab Noord" in answer and when(driver, "fieldlab-noord") in answer
    # Without a recent topic it behaves as before.
    await driver.say(USER + 2, "en wanneer is die?")
    assert "Fieldlab" not in texts(await driver.say(USER + 2, "en wanneer is die?"))[0]
