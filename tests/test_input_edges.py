"""What people really type: long texts full of & and <, things that are no name, invisible
characters, and control characters that a database refuses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import FakeClock, texts
from sqlalchemy import select

from bot.config import AppConfig
from bot.offline.driver import BotDriver
from bot.offline.standin import html_text
from bot.services import build_services
from core.text_limits import clean_text, clip, fit_html, visible_length
from faq.content import html_problems
from handlers.signup import clean_name, looks_like_name
from storage.models import FaqMiss, Registration

TEST_ACTIVITIES = Path(__file__).resolve().parent / "data" / "activities-test.yaml"
PARENT = 2201
SUMMARY_TAGS = frozenset({"b", "i"})


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    activities = config.activities.model_copy(update={"file": TEST_ACTIVITIES})
    return config.model_copy(update={"activities": activities})


@pytest.fixture
async def driver(
    config: AppConfig, clock: FakeClock, migrated_db_url: str
) -> AsyncIterator[BotDriver]:
    # config's database, with the migrations already applied (a copy of the template)
    async with BotDriver(lambda: build_services(config, clock)) as bot_driver:
        yield bot_driver
    assert bot_driver.standin.rejected == []


async def to_question_step(driver: BotDriver, name: str = "Anna de Vries") -> None:
    await driver.say(PARENT, "/start signup_kleine-dialoog")
    await driver.press(PARENT, "Ouder")
    await driver.say(PARENT, name)
    await driver.press(PARENT, "Overslaan")


def stored(driver: BotDriver) -> list[tuple[str, str | None, str | None]]:
    with driver.services.db.session() as session:
        rows = session.execute(
            select(Registration.name, Registration.email, Registration.question)
        ).all()
    return [(r[0], r[1], r[2]) for r in rows]


# -- a long question full of & < > ---------------------------------------------------------


async def test_summary_of_a_long_question_full_of_specials_is_accepted(
    driver: BotDriver,
) -> None:
    question = ("&<>" * 334)[:1000]
    await to_question_step(driver)
    await driver.say(PARENT, question)
    calls = await driver.press(PARENT, "akkoord")
    [summary] = [t for t in texts(calls) if "Klopt dit?" in t]
    assert driver.standin.rejected == []
    assert html_problems(summary, SUMMARY_TAGS) == []
    assert html_text(summary)[1] is None
    # Short enough however Telegram counts: the HTML itself stays under 4096 characters.
    assert len(summary) < 4096
    assert "&amp;&lt;&gt;" in summary and "…" in summary
    await driver.press(PARENT, "Bevestigen")
    assert stored(driver) == [("Anna de Vries", None, question)]


def test_fit_html_never_breaks_a_tag_or_an_entity() -> None:
    long = "<b>Titel &amp; meer</b>\n" + "<i>" + "&lt;&amp;&gt;" * 3000 + "</i>"
    assert visible_length(long) > 4096
    for limit in (4096, 100, 17, 13, 12):
        fitted = fit_html(long, limit)
        visible, problem = html_text(fitted)
        assert problem is None, (limit, fitted[-40:])
        assert len(visible) <= limit and visible.endswith("…")
    assert fit_html("<b>kort</b>", 4096) == "<b>kort</b>"
    # Telegram counts UTF-16 code units: an emoji outside the BMP counts twice.
    emoji = fit_html("<b>" + "😀" * 5000 + "</b>", 4096)
    assert len(html_text(emoji)[0].encode("utf-16-le")) // 2 <= 4096


def test_clip_shortens_plain_text_only_when_needed() -> None:
    assert clip("Anna", 10) == "Anna"
    assert clip("a" * 20, 10) == "a" * 9 + "…"
    assert len(clip("&" * 1000, 400)) == 400


# -- the name step --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "hoe lang duurt het eigenlijk?",
        "wanneer is de volgende dialoog?",
        ".",
        "...",
        "😀",
        "👍🏽👍🏽",
        "anna@example.org",
        "ik wil graag komen met mijn zoon en dochter",
    ],
)
def test_what_is_no_name(typed: str) -> None:
    name = clean_name(typed)
    assert name is None or not looks_like_name(name)


@pytest.mark.parametrize(
    "typed",
    [
        "Anna de Vries",
        "Jeroen",
        "Marie-José van den Berg-de Wit",
        "O'Brien",
        "مهر\u200cنوش",  # Persian, with a zero-width non-joiner
        "Anna-Ma\u00adrie",  # soft hyphen
        "Sam 👩\u200d💻",  # emoji ZWJ sequence
        "Ğülşen Çelik",
        "李小龙",
    ],
)
def test_real_names_are_accepted(typed: str) -> None:
    name = clean_name(typed)
    assert name is not None and looks_like_name(name)
    assert name == typed


@pytest.mark.parametrize(
    "typed",
    [
        "Anna\u202eseirV",  # right-to-left override
        "\u2066Anna\u2069",  # isolates
        "Anna\u200b de Vries",  # zero-width space
        "Anna\u2060Vries",  # word joiner
        "Anna\x00",
        "Anna\x1b[31m",
        "Anna\ud800",  # a broken surrogate
        "x" * 101,
    ],
)
def test_invisible_tricks_and_control_characters_are_refused(typed: str) -> None:
    assert clean_name(typed) is None


async def test_name_step_asks_again_kindly(driver: BotDriver) -> None:
    await driver.say(PARENT, "/start signup_kleine-dialoog")
    await driver.press(PARENT, "Ouder")
    for typed in ("hoe lang duurt het eigenlijk?", ".", "🙂"):
        answer = texts(await driver.say(PARENT, typed))
        assert "geen naam" in answer[0] and "Anna de Vries" in answer[0]
    answer = texts(await driver.say(PARENT, "Anna\u202eseirV"))
    assert "lukt niet als naam" in answer[0]
    answer = texts(await driver.say(PARENT, "مهر\u200cنوش"))
    assert "e-mailadres" in answer[0]


# -- control characters ---------------------------------------------------------------------


def test_clean_text() -> None:
    assert clean_text("a\x00b\x1bc\x7f") == "abc"
    assert clean_text("regel 1\r\nregel 2\tx") == "regel 1\nregel 2\tx"
    assert clean_text("regel 1\nregel 2\tx", multiline=False) == "regel 1 regel 2 x"
    assert clean_text("Anna\ud800") == "Anna"
    assert clean_text("مهر\u200cنوش 👩\u200d💻") == "مهر\u200cنوش 👩\u200d💻"


async def sign_up_with_nul_characters(driver: BotDriver) -> None:
    await driver.say(PARENT, "/start signup_kleine-dialoog")
    await driver.press(PARENT, "Ouder")
    await driver.say(PARENT, "Anna de Vries")
    await driver.say(PARENT, "anna\x00@example.org")
    await driver.say(PARENT, "Is er\x00 parkeerplek?\nEn koffie?")
    await driver.press(PARENT, "akkoord")
    calls = await driver.press(PARENT, "Bevestigen")
    assert "Je bent aangemeld" in texts(calls)[0]
    assert stored(driver) == [
        ("Anna de Vries", "anna@example.org", "Is er parkeerplek?\nEn koffie?")
    ]
    await driver.say(PARENT, "hoe laat is het\x00 in Tokio?")
    with driver.services.db.session() as session:
        misses = session.scalars(select(FaqMiss.question)).all()
    assert misses == ["hoe laat is het in Tokio?"]


async def test_nul_characters_are_stripped_where_text_enters(driver: BotDriver) -> None:
    await sign_up_with_nul_characters(driver)


async def test_nul_characters_never_reach_postgresql(
    config: AppConfig, clock: FakeClock, postgres_url: str
) -> None:
    on_postgres = config.model_copy(
        update={"storage": config.storage.model_copy(update={"url": postgres_url})}
    )
    async with BotDriver(lambda: build_services(on_postgres, clock)) as driver:
        await sign_up_with_nul_characters(driver)
        assert driver.standin.rejected == []


@pytest.mark.parametrize("text", ["/", "/ ", "/ verhaal", "/@", "/𐀀", "/start@", "/😀 hoi"])
async def test_a_slash_without_a_command_gets_an_answer_not_an_error(
    driver: BotDriver, text: str
) -> None:
    """The fuzzer sent "/" (IndexError in the check whether an update may leave a trace)."""
    await driver.say(4001, "/start")
    answers = texts(await driver.say(4001, text))
    assert answers, text
    assert not any("Oeps" in answer for answer in answers), answers
