"""The inbox during a database outage (a PostgreSQL that stops answering, refuses, or whose
inbox threads another client holds locked): a message to the programme office, a person's
answer back and an organiser's answer that cannot be stored are NOT sent, and their authors
hear so within five seconds, while the FAQ keeps answering everyone else within one; after
recovery the same buttons and replies work, and nothing was stored twice.

Run with `-s` to see the figures (seconds) of each fault."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import test_database_outage as outage
from conftest import ADMIN_ID, FakeClock
from db_proxy import FaultyProxy
from sqlalchemy import func, make_url, select
from test_database_outage import FAQ_QUESTION, answer, first_message, until, with_url
from test_inbox import GROUP, GROUP_CHAT, HANDOVER, QUESTION, hand_over, message_with

from bot.config import AppConfig
from bot.offline.driver import BotDriver
from bot.offline.standin import ApiCall
from bot.services import build_services
from core import callbacks
from storage.models import InboxMessage

proxy = outage.proxy  # the fixture: a proxy in front of PostgreSQL that can fail

PARENT, ASKER, OTHER = 7101, 7102, 7103
NOT_SENT = "Je bericht is NIET verstuurd"
ANSWER_NOT_SENT = "Je antwoord is NIET verstuurd"


def said(calls: list[ApiCall]) -> list[str]:
    """The text of every call, sent or edited."""
    return [str(call.params.get("text")) for call in calls]


def replying(
    driver: BotDriver, user_id: int, text: str, to: dict[str, Any], chat: Any = None
) -> Callable[[], int]:
    return lambda: driver.standin.user_message(driver._user(user_id), text, chat=chat, reply_to=to)


def stored_messages(driver: BotDriver) -> int:
    with driver.services.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(InboxMessage)) or 0)


@pytest.mark.parametrize("fault", ["blackhole", "refuse", "lock"])
@pytest.mark.slow
async def test_what_cannot_be_stored_is_not_sent_and_its_author_hears_so(
    fault: str, proxy: FaultyProxy, postgres_url: str, config: AppConfig, clock: FakeClock
) -> None:
    url = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
    inbox = config.inbox.model_copy(update={"chat_id": GROUP})
    faulty = with_url(config.model_copy(update={"inbox": inbox}), url.render_as_string(False))
    async with BotDriver(lambda: build_services(faulty, clock)) as driver:
        # Before: a thread answered once (the parent may answer back), its copy in the
        # organisers' group, and someone else's question waiting for its "Ja, versturen".
        await hand_over(driver, PARENT)
        [_] = await driver.messages_to(GROUP, "Vraag #1")
        copy = message_with(driver, GROUP, "Vraag #1")
        await driver.say(ADMIN_ID, "Bel ons gerust.", chat=GROUP_CHAT, reply_to=copy)
        [_] = await driver.messages_to(PARENT, "Antwoord van het programmabureau")
        relayed = message_with(driver, PARENT, "Antwoord van het programmabureau")
        await driver.say(ASKER, QUESTION)
        await driver.press(ASKER, HANDOVER)
        _, faq_text = await answer(driver, OTHER, FAQ_QUESTION)  # the matcher warmed up
        stored_before = stored_messages(driver)

        # The lock: another client holding the inbox's threads (the rest answers).
        lock = outage.TableLock(postgres_url, "inbox_threads")
        await outage.begin_fault(fault, proxy, lock)
        figures: dict[str, float] = {}
        try:
            # The organiser's answer first, while the database is not yet known to be away:
            # it waits for the database, the loop does not (the FAQ answers meanwhile).
            organiser = asyncio.create_task(
                first_message(
                    driver, GROUP, replying(driver, ADMIN_ID, "Nog iets:", copy, GROUP_CHAT)
                )
            )
            await asyncio.sleep(0.1)
            figures["faq"], text = await answer(driver, OTHER, FAQ_QUESTION)
            assert text == faq_text
            figures["organiser"], text = await organiser
            assert ANSWER_NOT_SENT in text, text
            figures["send"], text = await answer(driver, ASKER, "#" + callbacks.INBOX_SEND.data())
            assert NOT_SENT in text, text
            figures["answer back"], text = await first_message(
                driver, PARENT, replying(driver, PARENT, "Dank je!", relayed)
            )
            assert NOT_SENT in text, text
        finally:
            proxy.heal()
            lock.release()
        assert figures["faq"] < 1.0, figures
        assert max(figures.values()) < 5.0, figures

        await until(lambda: driver.services.db.health.reason is None, 20)
        assert stored_messages(driver) == stored_before  # nothing stored meanwhile
        # Afterwards the preview's own button sends it, and replies go through again (what
        # was owed meanwhile, the answer relayed to the parent, may arrive in the same call).
        done = await driver.press(ASKER, "Ja, versturen")
        assert any("Verstuurd naar het programmabureau" in t for t in said(done)), said(done)
        again = await driver.say(ADMIN_ID, "Nog iets:", chat=GROUP_CHAT, reply_to=copy)
        assert any("Je antwoord gaat naar Test" in t for t in said(again)), said(again)
        back = await driver.say(PARENT, "Dank je!", reply_to=relayed)
        assert any("Doorgestuurd naar het programmabureau" in t for t in said(back))
        assert stored_messages(driver) == stored_before + 3  # each once
    print(f"\n{fault}: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()))
