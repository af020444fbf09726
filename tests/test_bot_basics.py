"""End to end through the real Application and the Bot API stand-in: what the user sees."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from conftest import ADMIN_ID, ROOT, FakeClock, texts
from sqlalchemy import select

from bot.logs import RedactSecrets, quiet_noisy_loggers
from bot.offline.driver import BotDriver, buttons_of
from faq.content import html_problems
from storage.activities import read_activity_file, upsert_activities
from storage.models import FaqMiss, User

USER = 1001


async def test_start_greets_in_dutch_by_default(driver: BotDriver) -> None:
    replies = texts(await driver.say(USER, "/start"))
    assert len(replies) == 1
    assert replies[0].startswith("Hoi Test!")
    assert "Met Andere Ogen" in replies[0]


async def test_start_greets_english_clients_in_english(driver: BotDriver) -> None:
    driver.languages[USER] = "en-GB"
    replies = texts(await driver.say(USER, "/start"))
    assert replies[0].startswith("Hi Test!")


async def test_first_contact_is_recorded_with_minimal_data(driver: BotDriver) -> None:
    await driver.say(USER, "/start")
    with driver.services.db.session() as session:
        user = session.scalars(select(User)).one()
    assert user.telegram_id == USER
    assert user.first_seen == driver.services.now()
    assert user.language is None  # nothing chosen yet: the client's language is used


async def test_help_lists_commands_and_admin_tools_only_for_admins(driver: BotDriver) -> None:
    user_help = texts(await driver.say(USER, "/help"))[0]
    assert "/agenda" in user_help and "/privacy" in user_help
    assert "/omroep" not in user_help
    admin_help = texts(await driver.say(ADMIN_ID, "/help"))[0]
    assert "/omroep" in admin_help
    # Every command only the organiser's menu has is in their /help, each on its own line.
    menus = {
        c.params["scope"].get("chat_id"): {command["command"] for command in c.params["commands"]}
        for c in driver.standin.calls
        if c.method == "setMyCommands" and "language_code" not in c.params
    }
    lines = admin_help.splitlines()
    for command in menus[ADMIN_ID] - menus[None]:
        assert any(line.startswith(f"/{command} – ") for line in lines), command
    for command in ("nieuweactiviteit", "activiteiten", "reacties", "cijfers", "vragen"):
        assert f"/{command} – " in admin_help


async def test_command_menus_are_registered_in_both_languages(driver: BotDriver) -> None:
    menus = [c for c in driver.standin.calls if c.method == "setMyCommands"]
    default = [c for c in menus if c.params["scope"] == {"type": "default"}]
    assert {c.params.get("language_code") for c in default} == {None, "en"}
    dutch = next(c for c in default if "language_code" not in c.params)
    english = next(c for c in default if c.params.get("language_code") == "en")
    assert "aanmelden" in [c["command"] for c in dutch.params["commands"]]
    assert "signup" in [c["command"] for c in english.params["commands"]]
    assert "omroep" not in [c["command"] for c in dutch.params["commands"]]
    admin = [c for c in menus if c.params["scope"] == {"type": "chat", "chat_id": ADMIN_ID}]
    assert "omroep" in [c["command"] for c in admin[0].params["commands"]]


async def test_language_switch_is_stored_and_used(driver: BotDriver) -> None:
    calls = await driver.say(USER, "/taal")
    assert "Which language" in texts(calls)[0]
    calls = await driver.press(USER, "English")
    assert texts(calls) == ["Fine, from now on I'll talk English with you. 🇬🇧"]
    with driver.services.db.session() as session:
        assert session.scalars(select(User.language)).one() == "en"
    assert "What I can do" in texts(await driver.say(USER, "/help"))[0]
    # The English alias works too, and the choice survives a restart.
    await driver.restart()
    assert texts(await driver.say(USER, "/start"))[0].startswith("Hi")
    await driver.say(USER, "/language")
    await driver.press(USER, "Nederlands")
    assert texts(await driver.say(USER, "/help"))[0].startswith("<b>Wat ik kan")


async def test_confident_question_gets_the_answer(driver: BotDriver) -> None:
    calls = await driver.say(USER, "wat is een fieldlab")
    expected = driver.services.faq.entry("fieldlab")
    assert expected is not None
    assert texts(calls)[0].startswith(expected.nl.answer)


async def test_english_question_gets_the_english_answer(driver: BotDriver) -> None:
    driver.languages[USER] = "en"
    calls = await driver.say(USER, "how can I contact the programme team")
    entry = driver.services.faq.entry("contact")
    assert entry is not None
    assert texts(calls)[0].startswith(entry.en.answer)


async def test_related_topics_are_offered_as_buttons(driver: BotDriver) -> None:
    calls = await driver.say(USER, "wat is een fieldlab")
    message = driver.standin.messages[
        (USER, max(k[1] for k in driver.standin.messages if k[0] == USER))
    ]
    # The related topics, then "Niet wat ik vroeg" (tests/test_faq_around.py).
    *buttons, last = buttons_of(message)
    assert 1 <= len(buttons) <= 3
    assert all(data.startswith("faq:show:") for _, data in buttons)
    assert last[1].startswith("faq:notit:")
    calls = await driver.press(USER, 1)
    related_id = buttons[0][1].removeprefix("faq:show:")
    entry = driver.services.faq.entry(related_id)
    assert entry is not None and texts(calls)[0].startswith(entry.nl.answer)


async def test_unknown_question_gets_honest_fallback_and_is_logged(driver: BotDriver) -> None:
    calls = await driver.say(USER, "hoe laat is het in Tokio")
    reply = texts(calls)[0]
    assert "metandereogen@vng.nl" in reply
    assert "geen goed antwoord" in reply
    with driver.services.db.session() as session:
        miss = session.scalars(select(FaqMiss)).one()
    assert miss.question == "hoe laat is het in Tokio"
    assert miss.language == "nl"
    assert miss.asked_at == driver.services.now()


@pytest.fixture
def suggest_everything(config):  # type: ignore[no-untyped-def]
    """Thresholds that put every question in the middle band."""
    thresholds = config.faq.thresholds.model_copy(update={"answer": 100.0, "suggest": 0.0})
    return config.model_copy(
        update={"faq": config.faq.model_copy(update={"thresholds": thresholds})}
    )


async def test_middle_band_asks_did_you_mean(suggest_everything, clock) -> None:  # type: ignore[no-untyped-def]
    from bot.services import build_services

    async with BotDriver(lambda: build_services(suggest_everything, clock)) as driver:
        calls = await driver.say(USER, "fieldlab masterclass")
        assert texts(calls) == ["Ik weet niet zeker wat je bedoelt. Bedoelde je…?"]
        buttons = buttons_of(driver.latest_message_with_buttons(USER) or {})
        assert 2 <= len(buttons) <= 4
        assert buttons[-1] == ("Geen van deze", "faq:none")
        picked = buttons[0][1].removeprefix("faq:pick:")
        calls = await driver.press(USER, 1)
        entry = driver.services.faq.entry(picked)
        assert entry is not None
        assert any(t.startswith(entry.nl.answer) for t in texts(calls))
        # The choice closes the question's buttons, so a double tap cannot answer twice.
        assert any(c.method == "editMessageReplyMarkup" for c in calls)

        await driver.say(USER, "fieldlab masterclass")
        calls = await driver.press(USER, "Geen van deze")
        assert "metandereogen@vng.nl" in texts(calls)[0]


async def test_unknown_command_and_stale_button(driver: BotDriver) -> None:
    assert "ken ik niet" in texts(await driver.say(USER, "/toverspreuk"))[0]
    calls = await driver.press_data(USER, "oud:formaat:1")
    alert = [c for c in calls if c.method == "answerCallbackQuery"]
    assert alert and "werkt niet meer" in alert[0].params["text"]
    calls = await driver.press_data(USER, "signup:pick:999999")
    assert "niet (meer) vinden" in texts(calls)[0]
    calls = await driver.press_data(USER, "faq:show:bestaat-niet")
    assert "ken ik niet" in texts(calls)[0]


@pytest.mark.parametrize(
    "text",
    [
        "x" * 5000,
        "🙂🙂🙂 wat is een fieldlab 🙂",
        "ما هو مختبر ميداني؟ שלום",
        "<b>fieldlab</b> & <script>alert(1)</script> *bold* _it_ [link](http://x)",
        "\u202e\u200b\u0000 rare tekens",
        "   ",
    ],
)
async def test_odd_input_never_crashes_and_replies_are_valid_html(
    driver: BotDriver, text: str
) -> None:
    calls = await driver.say(USER, text)
    for reply in texts(calls):
        assert "<script>" not in reply
        assert html_problems(reply) == []
        assert len(reply) <= 4096
    assert not any("Oeps" in t for t in texts(calls))


async def test_html_in_a_name_is_escaped(driver: BotDriver) -> None:
    driver.standin.user_message(
        {"id": 77, "is_bot": False, "first_name": "<i>Bo & Co</i>", "language_code": "nl"},
        "/start",
    )
    calls = await driver.say(77, "/help")  # processed after the /start above
    greeting = next(
        c for c in driver.standin.calls if c.method == "sendMessage" and c.chat_id == 77
    )
    assert "Hoi &lt;i&gt;Bo &amp; Co&lt;/i&gt;!" in greeting.params["text"]
    assert calls


async def test_errors_are_logged_without_text_and_the_user_gets_an_apology(
    driver: BotDriver, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(question: str) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(driver.services.matcher, "match", explode)
    quiet_noisy_loggers()  # as `mao-bot run` does
    with caplog.at_level(logging.INFO):
        calls = await driver.say(USER, "mijn geheime vraag over mijn kind")
    assert "Oeps" in texts(calls)[0]
    assert "metandereogen@vng.nl" in texts(calls)[0]
    assert "geheime vraag" not in caplog.text
    assert driver.standin.token not in caplog.text
    assert "RuntimeError" in caplog.text


async def test_non_text_message_gets_a_friendly_answer(driver: BotDriver) -> None:
    calls = await driver.send_update(
        {
            "message": {
                "message_id": 5,
                "date": 0,
                "chat": {"id": USER, "type": "private"},
                "from": {"id": USER, "is_bot": False, "first_name": "T"},
                "sticker": {
                    "file_id": "s",
                    "file_unique_id": "s",
                    "type": "regular",
                    "width": 1,
                    "height": 1,
                    "is_animated": False,
                    "is_video": False,
                },
            }
        },
        USER,
    )
    assert "alleen tekst" in texts(calls)[0]


def test_log_redaction_hides_the_token() -> None:
    record = logging.LogRecord("x", logging.INFO, "f", 1, "POST %s", ("/bot123:SECRET/x",), None)
    RedactSecrets(["123:SECRET"]).filter(record)
    assert record.getMessage() == "POST /bot[REDACTED]/x"


async def test_a_double_tap_on_a_closed_button_says_nothing_wrong(driver: BotDriver) -> None:
    """Telegram answers "message is not modified" when a keyboard that is already gone is
    removed again; the second tap must not turn that into an apology."""
    await driver.say(USER, "/taal")
    picker = driver.latest_message_with_buttons(USER)
    assert picker is not None
    stale_copy = {**picker}
    first = await driver.press_data(USER, buttons_of(picker)[1][1], picker)
    second = await driver.press_data(USER, buttons_of(stale_copy)[1][1], stale_copy)
    assert texts(first)  # the language was set
    assert not any("Oops" in t or "Oeps" in t for t in texts(first) + texts(second))


async def test_pressing_the_page_already_shown_changes_nothing(driver: BotDriver) -> None:
    # config.yaml loads no activities; an empty agenda has no filter button.
    specs = read_activity_file(ROOT / "tests" / "data" / "activities-test.yaml").activities
    with driver.services.db.session() as session:
        upsert_activities(session, specs, driver.services.config.zone, driver.services.now())
    await driver.say(USER, "/agenda")
    agenda = driver.latest_message_with_buttons(USER)
    assert agenda is not None
    filters_button = next(data for label, data in buttons_of(agenda) if "Filter" in label)
    await driver.press_data(USER, filters_button, agenda)
    menu = driver.latest_message_with_buttons(USER)
    assert menu is not None
    again = await driver.press_data(USER, filters_button, menu)
    assert not any("Oeps" in t for t in texts(again))


async def test_a_database_outage_gets_one_apology_without_the_database(
    driver: BotDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    def down():  # type: ignore[no-untyped-def]
        raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database or disk is full"))

    driver.languages[USER] = "en"
    monkeypatch.setattr(driver.services.db, "session", down)
    monkeypatch.setattr(driver.services.db, "reading", down)
    calls = await driver.say(USER, "/mijnaanmeldingen")
    apologies = [t for t in texts(calls) if "can't reach" in t or "niet bereiken" in t]
    assert len(apologies) == 1  # the user's record and the command both failed: one apology
    # In the language their Telegram app reports, saying what did not happen.
    assert "I can't reach your data" in apologies[0] and "/mijnaanmeldingen" in apologies[0]


async def test_a_long_answer_has_its_detail_behind_a_more_button(driver: BotDriver) -> None:
    calls = await driver.say(USER, "wat doen jullie met mijn gegevens")
    answer = texts(calls)[0]
    assert "/vergeetmij" in answer
    calls = await driver.press(USER, "Meer hierover")
    detail = texts(calls)[0]
    assert detail and detail != answer


async def test_last_seen_is_written_at_most_every_few_minutes(
    driver: BotDriver, clock: FakeClock
) -> None:
    first = clock()
    await driver.say(USER, "/help")
    clock.advance(timedelta(minutes=1))
    await driver.say(USER, "/help")
    with driver.services.db.session() as session:
        seen = session.scalar(select(User.last_seen).where(User.telegram_id == USER))
    assert seen == first  # the second update wrote nothing
    clock.advance(timedelta(minutes=5))
    await driver.say(USER, "/help")
    with driver.services.db.session() as session:
        seen = session.scalar(select(User.last_seen).where(User.telegram_id == USER))
    assert seen == clock()
