"""Fault injection in the Bot API stand-in, seen through a real python-telegram-bot Bot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut
from telegram.request import HTTPXRequest

from bot.offline.standin import NOT_MODIFIED, BotApiStandIn, Fault

CHAT = 42
OTHER = 43


def bot_for(standin: BotApiStandIn, **request: float) -> Bot:
    return Bot(
        token=standin.token,
        base_url=standin.base_url,
        base_file_url=standin.base_file_url,
        request=HTTPXRequest(
            read_timeout=request.get("read_timeout", 0.5),
            connect_timeout=2,
            connection_pool_size=int(request.get("pool", 1)),
        ),
    )


@pytest.fixture
async def standin() -> AsyncIterator[BotApiStandIn]:
    standin = BotApiStandIn()
    await standin.start()
    try:
        yield standin
    finally:
        await standin.stop()


@pytest.fixture
async def bot(standin: BotApiStandIn) -> AsyncIterator[Bot]:
    async with bot_for(standin) as bot:
        yield bot


def sent(standin: BotApiStandIn) -> list[str]:
    return [str(c.params.get("text")) for c in standin.calls if c.method == "sendMessage"]


async def test_server_error_is_a_network_error_and_not_delivered(
    standin: BotApiStandIn, bot: Bot
) -> None:
    standin.inject(Fault.server_error(status=500, times=1))
    with pytest.raises(NetworkError) as failed:
        await bot.send_message(CHAT, "one")
    assert type(failed.value) is NetworkError  # PTB maps any 5xx to a plain NetworkError
    assert failed.value.message == "Internal Server Error"
    await bot.send_message(CHAT, "two")

    assert standin.delivered_texts(CHAT) == ["two"]
    assert sent(standin) == ["two"]
    assert standin.fault_counts == {"server_error": 1}
    assert [(kind, c.params["text"]) for kind, c in standin.fault_log] == [("server_error", "one")]


async def test_other_5xx_status(standin: BotApiStandIn, bot: Bot) -> None:
    standin.inject(Fault.server_error(status=502))
    with pytest.raises(NetworkError, match=r"^Bad Gateway$"):
        await bot.send_message(CHAT, "one")
    with pytest.raises(ValueError, match="5xx"):
        Fault.server_error(status=400)


async def test_reset_is_a_network_error_but_not_a_timeout(
    standin: BotApiStandIn, bot: Bot
) -> None:
    standin.inject(Fault.reset())
    with pytest.raises(NetworkError, match=r"httpx\.ReadError") as failed:
        await bot.send_message(CHAT, "lost")
    assert not isinstance(failed.value, TimedOut)
    await bot.send_message(CHAT, "after")  # a fresh connection works

    assert standin.delivered_texts(CHAT) == ["after"]
    assert standin.fault_counts == {"reset": 1}


async def test_timeout_delivered(standin: BotApiStandIn, bot: Bot) -> None:
    standin.inject(Fault.timeout(delivered=True, seconds=2))
    with pytest.raises(TimedOut):
        await bot.send_message(CHAT, "arrived anyway")

    # Delivered (the retry would duplicate it), but never answered: not in `calls`.
    assert standin.delivered_texts(CHAT) == ["arrived anyway"]
    assert [c.params["text"] for c in standin.delivered(CHAT)] == ["arrived anyway"]
    assert sent(standin) == []
    assert standin.sent_count == 1
    assert [m.get("text") for (chat, _), m in standin.messages.items() if chat == CHAT] == [
        "arrived anyway"
    ]
    assert standin.fault_counts == {"timeout": 1}


async def test_timeout_not_delivered(standin: BotApiStandIn, bot: Bot) -> None:
    standin.inject(Fault.timeout(delivered=False, seconds=2))
    with pytest.raises(TimedOut):
        await bot.send_message(CHAT, "lost")
    await bot.send_message(CHAT, "next")
    assert standin.delivered_texts(CHAT) == ["next"]
    assert sent(standin) == ["next"]
    assert standin.fault_counts == {"timeout": 1}


async def test_held_request_blocks_nobody_and_stop_releases_it() -> None:
    standin = BotApiStandIn()
    await standin.start()
    fault = standin.inject(Fault.timeout(delivered=False, seconds=30, chat_id=CHAT))
    async with bot_for(standin, read_timeout=10, pool=2) as bot:
        held = asyncio.create_task(bot.send_message(CHAT, "held"))
        for _ in range(100):
            if fault.hits:
                break
            await asyncio.sleep(0.01)
        assert fault.hits == 1
        await asyncio.wait_for(bot.send_message(OTHER, "meanwhile"), 1)
        assert not held.done()
        await asyncio.wait_for(standin.stop(), 1)
        # stop() ends the held request: closed without an answer.
        with pytest.raises(NetworkError, match="Server disconnected") as failed:
            await asyncio.wait_for(held, 1)
        assert not isinstance(failed.value, TimedOut)
    assert standin.delivered_texts() == ["meanwhile"]


async def test_storm_is_retry_after(standin: BotApiStandIn, bot: Bot) -> None:
    standin.inject(Fault.storm(retry_after=3, times=2))
    for _ in range(2):
        with pytest.raises(RetryAfter) as failed:
            await bot.send_message(CHAT, "flood")
        assert failed.value.retry_after == timedelta(seconds=3)  # PTB_TIMEDELTA=1
        assert failed.value.message == "Flood control exceeded. Retry in 0:00:03"
    await bot.send_message(CHAT, "calm")
    assert standin.delivered_texts(CHAT) == ["calm"]
    assert standin.fault_counts == {"storm": 2}
    assert standin.too_many_requests == 0  # that counter is the RateLimit's own


async def test_times_then_used_up(standin: BotApiStandIn, bot: Bot) -> None:
    fault = standin.inject(Fault.server_error(times=3))
    outcomes = []
    for n in range(5):
        try:
            await bot.send_message(CHAT, f"m{n}")
            outcomes.append("ok")
        except NetworkError:
            outcomes.append("fail")
    assert outcomes == ["fail", "fail", "fail", "ok", "ok"]
    assert fault.used_up and fault.hits == 3
    assert standin.delivered_texts(CHAT) == ["m3", "m4"]


async def test_every_nth_call_without_end(standin: BotApiStandIn, bot: Bot) -> None:
    fault = standin.inject(Fault.server_error(every=3))
    failed = []
    for n in range(1, 10):
        try:
            await bot.send_message(CHAT, f"m{n}")
        except NetworkError:
            failed.append(n)
    assert failed == [3, 6, 9]
    assert standin.delivered_texts(CHAT) == ["m1", "m2", "m4", "m5", "m7", "m8"]
    assert (fault.seen, fault.hits, fault.used_up) == (9, 3, False)
    assert standin.fault_counts["server_error"] == 3


async def test_matching_by_chat_and_by_method(standin: BotApiStandIn, bot: Bot) -> None:
    standin.inject(Fault.server_error(times=5, chat_id=CHAT))
    standin.inject(Fault.server_error(times=5, method="editMessageText"))
    message = await bot.send_message(OTHER, "other chat is fine")
    with pytest.raises(NetworkError):
        await bot.send_message(CHAT, "this chat fails")
    # The default matches the sending methods only: other calls are answered, and recorded.
    await bot.get_my_commands()
    with pytest.raises(NetworkError):
        await bot.edit_message_text("edited", chat_id=OTHER, message_id=message.message_id)
    await bot.edit_message_reply_markup(
        chat_id=OTHER,
        message_id=message.message_id,
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("b", callback_data="b")]]),
    )

    assert standin.delivered_texts() == ["other chat is fine"]
    assert [c.method for c in standin.calls] == [
        "getMe",
        "sendMessage",
        "getMyCommands",
        "editMessageReplyMarkup",
    ]
    assert standin.messages[(OTHER, message.message_id)]["text"] == "other chat is fine"


async def test_first_matching_fault_applies_and_clear(standin: BotApiStandIn, bot: Bot) -> None:
    standin.inject(Fault.storm(retry_after=1, times=9, chat_id=CHAT))
    standin.inject(Fault.reset(times=9))
    with pytest.raises(RetryAfter):
        await bot.send_message(CHAT, "storm")
    with pytest.raises(NetworkError, match="httpx"):
        await bot.send_message(OTHER, "reset")
    standin.clear_faults()
    await bot.send_message(CHAT, "a")
    await bot.send_message(OTHER, "b")
    assert standin.delivered_texts() == ["a", "b"]
    assert standin.fault_counts == {"storm": 1, "reset": 1}


async def test_documents_count_as_deliveries(standin: BotApiStandIn, bot: Bot) -> None:
    standin.inject(Fault.server_error(method="sendDocument"))
    with pytest.raises(NetworkError):
        await bot.send_document(CHAT, b"x", filename="a.ics", caption="first")
    await bot.send_document(CHAT, b"x", filename="a.ics", caption="second")
    await bot.send_message(CHAT, "text")
    assert [c.method for c in standin.delivered(CHAT)] == ["sendDocument", "sendMessage"]
    assert standin.delivered_texts(CHAT) == ["second", "text"]


async def test_faults_come_before_blocked_chats(standin: BotApiStandIn, bot: Bot) -> None:
    standin.blocked_chats.add(CHAT)
    standin.inject(Fault.timeout(delivered=True, seconds=2))
    with pytest.raises(TimedOut):
        await bot.send_message(CHAT, "blocked")
    assert standin.delivered(CHAT) == []  # the user blocked the bot: nothing arrived


async def test_identical_edit_is_not_modified_when_strict() -> None:
    standin = BotApiStandIn(strict_edits=True)
    await standin.start()
    try:
        async with bot_for(standin) as bot:
            keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Ja", callback_data="y")]])
            message = await bot.send_message(CHAT, "vraag", reply_markup=keyboard)
            mid = message.message_id

            with pytest.raises(BadRequest) as failed:
                await bot.edit_message_text(
                    "vraag", reply_markup=keyboard, chat_id=CHAT, message_id=mid
                )
            # PTB drops Telegram's "Bad Request: " prefix and capitalises the rest.
            assert NOT_MODIFIED.startswith("Bad Request: message is not modified: ")
            assert failed.value.message == "M" + NOT_MODIFIED.removeprefix("Bad Request: m")
            with pytest.raises(BadRequest, match="not modified"):
                await bot.edit_message_reply_markup(
                    reply_markup=keyboard, chat_id=CHAT, message_id=mid
                )

            await bot.edit_message_text(
                "antwoord", reply_markup=keyboard, chat_id=CHAT, message_id=mid
            )
            await bot.edit_message_reply_markup(
                reply_markup=None, chat_id=CHAT, message_id=mid
            )  # drops the keyboard
            # Removing a keyboard that is already gone changes nothing either.
            with pytest.raises(BadRequest, match="not modified"):
                await bot.edit_message_reply_markup(
                    reply_markup=None, chat_id=CHAT, message_id=mid
                )
            with pytest.raises(BadRequest, match="not modified"):
                await bot.edit_message_reply_markup(
                    reply_markup=InlineKeyboardMarkup([]), chat_id=CHAT, message_id=mid
                )
            with pytest.raises(BadRequest, match="Message to edit not found"):
                await bot.edit_message_text("x", chat_id=CHAT, message_id=1)
    finally:
        await standin.stop()
    edits = [c.method for c in standin.calls if c.method.startswith("edit")]
    # Answered edits are recorded (and, as before, edits of unknown messages); refused not.
    assert edits == ["editMessageText", "editMessageReplyMarkup", "editMessageText"]


async def test_identical_edit_succeeds_when_edits_are_lenient(
    standin: BotApiStandIn, bot: Bot
) -> None:
    standin.strict_edits = False
    message = await bot.send_message(CHAT, "status")
    for _ in range(2):
        await bot.edit_message_text("status", chat_id=CHAT, message_id=message.message_id)
        await bot.edit_message_reply_markup(chat_id=CHAT, message_id=message.message_id)


def test_fault_validation() -> None:
    assert Fault.reset().times == 1
    assert Fault.server_error(every=4).times is None
    with pytest.raises(ValueError, match="times"):
        Fault.reset(times=0)
    with pytest.raises(ValueError, match="every"):
        Fault.storm(every=0)
