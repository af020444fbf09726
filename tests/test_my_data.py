"""/mijngegevens shows everything the bot keeps about the user: in the chat and as a JSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import texts

from bot.config import AppConfig
from bot.offline.driver import BotDriver
from bot.offline.standin import ApiCall

TEST_ACTIVITIES = Path(__file__).resolve().parent / "data" / "activities-test.yaml"
ANNA, BERT, CARLA = 3201, 3202, 3203


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    activities = config.activities.model_copy(update={"file": TEST_ACTIVITIES})
    return config.model_copy(update={"activities": activities})


async def sign_up(driver: BotDriver, user: int, name: str, email: str, question: str) -> None:
    """The whole flow by deep link, with an e-mail address and a question."""
    await driver.say(user, "/start signup_kleine-dialoog")
    await driver.press(user, "Ouder")
    await driver.say(user, name)
    await driver.say(user, email)
    await driver.say(user, question)
    await driver.press(user, "akkoord")
    calls = await driver.press(user, "Bevestigen")
    assert any("Je bent aangemeld" in t for t in texts(calls))


def data_file(calls: list[ApiCall]) -> dict[str, Any]:
    [document] = [c for c in calls if c.method == "sendDocument"]
    name, content = next(iter(document.files.values()))
    assert name == "mijn-gegevens.json"
    data: dict[str, Any] = json.loads(content.decode("utf-8"))
    return data


async def test_my_data_shows_registration_and_profile_and_nobody_elses(
    driver: BotDriver,
) -> None:
    await sign_up(driver, ANNA, "Anna de Vries", "anna@example.org", "Is er koffie?")
    await sign_up(driver, BERT, "Bert Bakker", "bert@example.org", "Mag mijn zoon mee?")
    calls = await driver.say(ANNA, "/mijngegevens")
    [text] = texts(calls)
    assert "Anna de Vries" in text and "anna@example.org" in text
    assert "Kleine dialoog &lt;&amp;&gt; ouders" in text  # the title, escaped
    assert "dinsdag 18 mei 2027, 14:00" in text
    assert "Is er koffie?" in text
    assert "Aangemeld" in text
    assert "Bevestiging" in text  # the confirmation the bot sent
    assert len(text) <= 4096
    data = data_file(calls)
    assert data["telegram_id"] == ANNA
    assert data["user"]["reminders_enabled"] is True and data["user"]["blocked"] is False
    assert data["profile"] == {
        "name": "Anna de Vries",
        "role": "ouder",
        "sector": None,
        "email": "anna@example.org",
    }
    [registration] = data["registrations"]
    assert registration["activity"]["slug"] == "kleine-dialoog"
    assert registration["activity"]["title_nl"] == "Kleine dialoog <&> ouders"
    assert registration["status"] == "registered"
    assert registration["name"] == "Anna de Vries"
    assert registration["email"] == "anna@example.org"
    assert registration["question"] == "Is er koffie?"
    assert registration["registered_at"].startswith("2027-03-01T10:00:00+01:00")
    kinds = {m["kind"] for m in data["messages"]}
    assert {"confirmation", "calendar", "reminder"} <= kinds
    everything = text + json.dumps(data, ensure_ascii=False)
    for other in ("Bert", "bert@example.org", "Mag mijn zoon mee", str(BERT)):
        assert other not in everything


async def test_waiting_place_cancellation_and_unfinished_sign_up_are_shown(
    driver: BotDriver,
) -> None:
    await sign_up(driver, ANNA, "Anna de Vries", "anna@example.org", "Is er koffie?")
    await sign_up(driver, BERT, "Bert Bakker", "bert@example.org", "Mag mijn zoon mee?")
    # The dialogue is full (2 places): Carla waits, then cancels her place in the queue.
    await driver.say(CARLA, "/start signup_kleine-dialoog")
    await driver.press(CARLA, "Ja, op de wachtlijst")
    await driver.press(CARLA, "Ouder")
    await driver.say(CARLA, "Carla Cornelis")
    await driver.press(CARLA, "Overslaan")
    await driver.press(CARLA, "Geen vraag")
    await driver.press(CARLA, "akkoord")
    await driver.press(CARLA, "Bevestigen")
    text = texts(await driver.say(CARLA, "/mijngegevens"))[0]
    assert "Wachtlijst, plek 1" in text
    # Half-way through a new sign-up: the draft is kept, and shown.
    await driver.say(CARLA, "/start signup_masterclass-ruim")
    await driver.press(CARLA, "Nee")  # not the remembered answers: type them again
    await driver.press(CARLA, "Professional")
    await driver.press(CARLA, "Onderwijs")
    await driver.say(CARLA, "Carla C. Cornelis")
    calls = await driver.say(CARLA, "/mijngegevens")
    [text] = texts(calls)
    assert "nog niet afrondde" in text
    assert "Masterclass Netwerkregie" in text and "Carla C. Cornelis" in text
    assert "Professional (Onderwijs)" in text
    data = data_file(calls)
    assert data["user_data"]["signup"]["name"] == "Carla C. Cornelis"
    assert [c["name"] for c in data["conversations"]] == ["signup"]
    [waiting] = data["registrations"]
    assert waiting["status"] == "waiting" and waiting["waiting_list_position"] == 1
    await driver.say(CARLA, "/annuleer")
    # Leaving the waiting list: the registration stays, cancelled, with its time.
    await driver.say(CARLA, "/mijnaanmeldingen")
    await driver.press(CARLA, "wachtlijst")
    calls = await driver.say(CARLA, "/mijngegevens")
    [text] = texts(calls)
    assert "Afgemeld" in text and "nog niet afrondde" not in text
    [cancelled] = data_file(calls)["registrations"]
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_at"] is not None


async def test_after_forget_me_nothing_is_left(driver: BotDriver) -> None:
    await sign_up(driver, ANNA, "Anna de Vries", "anna@example.org", "Is er koffie?")
    await driver.say(ANNA, "/vergeetmij")
    await driver.press(ANNA, "Ja")
    calls = await driver.say(ANNA, "/mijngegevens")
    # Talking to the bot again records only that: no profile, registration or message.
    data = data_file(calls)
    assert data["profile"] is None and data["registrations"] == []
    assert data["user_data"] == {} and data["conversations"] == []
    assert not any(m["status"] == "pending" for m in data["messages"])
    assert "Anna" not in texts(calls)[0]


async def test_long_lists_stay_chat_sized_and_the_file_has_everything(driver: BotDriver) -> None:
    await sign_up(driver, ANNA, "Anna de Vries", "anna@example.org", "Is er koffie?")
    await driver.say(ANNA, "/start signup_masterclass-ruim")
    await driver.press(ANNA, "Ja, klopt")
    await driver.press(ANNA, "Geen vraag")
    await driver.press(ANNA, "Bevestigen")
    calls = await driver.say(ANNA, "/mijngegevens")
    [text] = texts(calls)
    # Two activities, each a confirmation, a calendar file and two reminders: 8 messages.
    assert text.count("• ") == 2 + 5
    assert "… en nog 3 meer: zie het bestand." in text
    data = data_file(calls)
    assert len(data["messages"]) == 8 and len(data["registrations"]) == 2
