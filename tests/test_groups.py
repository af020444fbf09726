"""The bot in a group: it answers only what is addressed to it, with a pointer to a private
chat, never shows personal data there and never records group members as users."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import ADMIN_ID, texts
from sqlalchemy import func, select

from bot.config import AppConfig
from bot.offline.driver import BotDriver, buttons_of, user_dict
from bot.offline.standin import BOT_USER, ApiCall
from storage.broadcasts import audience_user_ids
from storage.models import ConversationState, FaqMiss, Registration, User, UserData
from storage.vocabulary import Recipients

TEST_ACTIVITIES = Path(__file__).resolve().parent / "data" / "activities-test.yaml"
GROUP = -100123
GROUP_CHAT = {"id": GROUP, "type": "supergroup", "title": "Ouders"}
BOT = f"@{BOT_USER['username']}"
PARENT, MEMBER = 3001, 3002
POINTER = "privégesprek"
_message_ids = itertools.count(100)

# Every command that shows or changes something of one person (or an organiser's lists).
PERSONAL_COMMANDS = [
    "/mijngegevens",
    "/mydata",
    "/mijnaanmeldingen",
    "/mine",
    "/deelnemers",
    "/attendees",
    "/omroep",
    "/broadcast",
    "/aanmelden",
    "/signup",
    "/vergeetmij",
    "/forgetme",
    "/herinneringen",
    "/afmeldennieuws",
    "/taal",
    "/start",
    "/help",
    "/agenda",
]


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    activities = config.activities.model_copy(update={"file": TEST_ACTIVITIES})
    return config.model_copy(update={"activities": activities})


def group_message(user_id: int, text: str, **extra: Any) -> dict[str, Any]:
    """A message in the group as Telegram sends it: commands and @mentions are entities."""
    entities: list[dict[str, Any]] = []
    if text.startswith("/"):
        entities.append({"type": "bot_command", "offset": 0, "length": len(text.split()[0])})
    for mention in re.finditer(r"@\w+", text):
        if mention.start() > 0 and not text[mention.start() - 1].isspace():
            continue  # part of a command ("/agenda@bot")
        entities.append({"type": "mention", "offset": mention.start(), "length": len(mention[0])})
    message: dict[str, Any] = {
        "message_id": next(_message_ids),
        "date": 0,
        "chat": GROUP_CHAT,
        "from": user_dict(user_id, first_name="Groepslid"),
        "text": text,
        **extra,
    }
    if entities:
        message["entities"] = entities
    return {"message": message}


async def in_group(driver: BotDriver, user_id: int, text: str, **extra: Any) -> list[ApiCall]:
    """Every call the bot made while it processed the group message (to any chat)."""
    before = len(driver.standin.calls)
    await driver.send_update(group_message(user_id, text, **extra), GROUP)
    return driver.standin.calls[before:]


def assert_pointer_only(calls: list[ApiCall], start: str = "groep") -> None:
    """One short message to the group with a button that opens a private chat, nothing else."""
    [call] = calls
    assert call.method == "sendMessage" and call.chat_id == GROUP
    assert POINTER in str(call.params["text"])
    keyboard = call.params["reply_markup"]["inline_keyboard"]
    assert keyboard == [
        [{"text": "💬 Open privégesprek", "url": f"https://t.me/mao_test_bot?start={start}"}]
    ]


def count(driver: BotDriver, model: Any) -> int:
    with driver.services.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def known_users(driver: BotDriver) -> set[int]:
    with driver.services.db.session() as session:
        return set(session.scalars(select(User.telegram_id)))


async def sign_up(driver: BotDriver, user: int, name: str) -> None:
    await driver.say(user, "/start signup_kleine-dialoog")
    await driver.press(user, "Ouder")
    await driver.say(user, name)
    await driver.press(user, "Overslaan")
    await driver.press(user, "Geen vraag")
    await driver.press(user, "akkoord")
    calls = await driver.press(user, "Bevestigen")
    assert "Je bent aangemeld" in texts(calls)[0]


@pytest.mark.parametrize("command", PERSONAL_COMMANDS)
async def test_a_group_sees_no_personal_data(driver: BotDriver, command: str) -> None:
    await sign_up(driver, PARENT, "Anna de Vries")
    await driver.say(ADMIN_ID, "/start")
    registered_before = count(driver, Registration)
    for user in (PARENT, ADMIN_ID):
        # Without the bot's name the command may be meant for another bot: no answer at all.
        assert await in_group(driver, user, command) == []
        # Addressed to the bot: one pointer to a private chat, nothing else, anywhere.
        calls = await in_group(driver, user, f"{command}@mao_test_bot")
        assert_pointer_only(calls)
        sent = " ".join(str(c.params) for c in calls)
        assert "Anna" not in sent and str(user) not in sent
    # Nothing was started, changed or deleted on the way.
    assert count(driver, Registration) == registered_before
    assert count(driver, ConversationState) == 0
    assert count(driver, UserData) == 0
    assert known_users(driver) == {PARENT, ADMIN_ID}


async def test_a_sign_up_link_in_a_group_continues_in_the_private_chat(
    driver: BotDriver,
) -> None:
    calls = await in_group(driver, MEMBER, "/start@mao_test_bot signup_kleine-dialoog")
    assert_pointer_only(calls, start="signup_kleine-dialoog")
    assert count(driver, ConversationState) == 0
    # The button's link starts the same sign-up privately.
    calls = await driver.say(MEMBER, "/start signup_kleine-dialoog")
    assert "Kleine dialoog" in texts(calls)[0]


async def test_commands_for_another_bot_get_no_answer(driver: BotDriver) -> None:
    assert await in_group(driver, MEMBER, "/ban@OtherBot") == []
    assert await in_group(driver, MEMBER, "/agenda@OtherBot") == []
    # Nor in a private chat (the catch-all for unknown commands used to answer these).
    assert await driver.say(MEMBER, "/ban@OtherBot") == []
    assert "Die opdracht ken ik niet" in texts(await driver.say(MEMBER, "/ban"))[0]
    assert "Die opdracht ken ik niet" in texts(await driver.say(MEMBER, "/ban@mao_test_bot"))[0]


async def test_group_chatter_gets_no_answer_and_records_no_user(driver: BotDriver) -> None:
    for text in ("wat is een fieldlab", "hoe laat is het in Tokio", "Goedemorgen allemaal!"):
        assert await in_group(driver, MEMBER, text) == []
    # A message that mentions another member is chatter too.
    assert await in_group(driver, MEMBER, "@jan kom je ook?") == []
    assert known_users(driver) == set()
    assert count(driver, FaqMiss) == 0


async def test_a_mention_or_a_reply_to_the_bot_gets_a_pointer(driver: BotDriver) -> None:
    # A mention gets the pointer, not an FAQ answer: answers carry buttons that only work in
    # a private chat, and the question is the group's, not a conversation with the bot.
    assert_pointer_only(await in_group(driver, MEMBER, f"{BOT} wat is een fieldlab"))
    bot_message = {"message_id": 1, "date": 0, "chat": GROUP_CHAT, "from": BOT_USER, "text": "x"}
    assert_pointer_only(await in_group(driver, MEMBER, "en dit?", reply_to_message=bot_message))
    other = {**bot_message, "from": user_dict(PARENT)}
    assert await in_group(driver, MEMBER, "en dit?", reply_to_message=other) == []
    assert known_users(driver) == set()
    assert count(driver, FaqMiss) == 0


async def test_a_button_in_a_group_only_says_to_use_a_private_chat(driver: BotDriver) -> None:
    message = {"message_id": 7, "date": 0, "chat": GROUP_CHAT, "from": BOT_USER, "text": "x"}
    before = len(driver.standin.calls)
    await driver.send_update(
        {
            "callback_query": {
                "id": "q1",
                "from": user_dict(MEMBER),
                "chat_instance": "g",
                "message": message,
                "data": "mine:cancel:1",
            }
        },
        GROUP,
    )
    [call] = driver.standin.calls[before:]
    assert call.method == "answerCallbackQuery" and call.params["show_alert"] is True
    assert "privégesprek" in str(call.params["text"])
    assert known_users(driver) == set()


async def test_a_group_member_is_not_a_broadcast_recipient(driver: BotDriver) -> None:
    await in_group(driver, MEMBER, "Goedemorgen allemaal!")
    await in_group(driver, MEMBER, "/start@mao_test_bot")
    await in_group(driver, MEMBER, f"{BOT} hallo")
    with driver.services.db.session() as session:
        assert MEMBER not in audience_user_ids(session, Recipients.EVERYONE, None)
    # Talking to the bot privately makes them a user like anyone else.
    await driver.say(MEMBER, "/start")
    with driver.services.db.session() as session:
        assert MEMBER in audience_user_ids(session, Recipients.EVERYONE, None)


async def test_the_pointer_is_in_the_members_language(driver: BotDriver) -> None:
    update = group_message(MEMBER, "/agenda@mao_test_bot")
    update["message"]["from"] = user_dict(MEMBER, language_code="en")
    calls = await driver.send_update(update, GROUP)
    assert "private chat" in texts(calls)[0]
    assert buttons_of(driver.latest_message(GROUP) or {}) == [
        ("💬 Open private chat", "https://t.me/mao_test_bot?start=groep")
    ]
