"""The inbox during a database outage (a PostgreSQL that stops answering, refuses, or whose
inbox table another client holds locked): a
message to the programme office, a person's answer back and an organiser's answer that cannot
be stored are NOT sent, and their authors hear so within five seconds, while the FAQ keeps
answering everyone else within one; after recovery the same buttons and replies work, and
nothing was stored twice.

Run with `-s` to see the figures (seconds) of each fault."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
import test_database_outage as outage
from conftest import ADMIN_ID, FakeClock
from db_proxy import FaultyProxy
from sqlalchemy import func, make_url, select
from test_database_outage import FAQ_QUESTION, answer, until, with_url
from test_inbox import GROUP, GROUP_CHAT, HANDOVER, QUESTION, hand_over, message_with

from bot.config import AppConfig
from bot.offline.driver import BotDriver
from bot.services import build_services
from core import callbacks
from storage.models import InboxMessage

proxy = outage.proxy  # the fixture: a proxy in front of PostgreSQL that can fail

PARENT, ASKER, OTHER = 7101, 7102, 7103
NOT_SENT = "Je bericht is NIET verstuurd"
ANSWER_NOT_SENT = "Je antwoord is NIET verstuurd"


async def first_message(
    driver: BotDriver, chat_id: int, push: Callable[[], int]
) -> tuple[float, str]:
    """Seconds until the bot's first message to `chat_id` after `push()` sent an update, and
    its text; returns once the update has been handled."""
    standin = driver.standin
    before = len(standin.calls)
    started = time.monotonic()
    update_id = push()
    while True:
        sent = [
            c for c in standin.calls[before:] if c.method == "sendMessage" and c.chat_id == chat_id
        ]
        if sent:
            elapsed = time.monotonic() - started
            break
        assert time.monotonic() - started < 15, "no answer"
        await asyncio.sleep(0.01)
    application = driver.application
    assert application is not None
    await asyncio.wait_for(application.processed_event(update_id).wait(), 15)  # type: ignore[attr-defined]
    return elapsed, str(sent[0].params.get("text", ""))


def replying(
    driver: BotDriver, user_id: int, text: str, to: dict[str, Any], chat: Any = None
) -> Callable[[], int]:
    return lambda: driver.standin.user_message(driver._user(user_id), text, chat=chat, reply_to=to)


class ThreadsLock(outage.TableLock):
    """Another client holding the inbox's threads: what reads or writes them waits, and
    gives up (lock_timeout); the rest of the database answers."""

    def take(self) -> None:
        self.connection = psycopg.connect(self.url)
        self.connection.execute("LOCK TABLE inbox_threads IN ACCESS EXCLUSIVE MODE")


def stored_messages(driver: BotDriver) -> int:
    with driver.services.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(InboxMessage)) or 0)


@pytest.mark.parametrize("fault", ["blackhole", "refuse", "lock"])
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

        lock = ThreadsLock(postgres_url)
        if fault == "blackhole":
            proxy.blackhole()
        elif fault == "refuse":
            proxy.refuse()
        else:
            await asyncio.to_thread(lock.take)
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
            figures["send"], text = await first_message(
                driver,
                ASKER,
                lambda: driver.standin.press_button(
                    driver._user(ASKER),
                    driver.latest_message_with_buttons(ASKER) or {},
                    callbacks.INBOX_SEND.data(),
                ),
            )
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
        # Afterwards the preview's own button sends it, and replies go through again.
        done = await driver.press(ASKER, "Ja, versturen")
        assert "Verstuurd naar het programmabureau" in str(done[-1].params.get("text"))
        again = await driver.say(ADMIN_ID, "Nog iets:", chat=GROUP_CHAT, reply_to=copy)
        assert "Je antwoord gaat naar Test" in str(again[-1].params.get("text"))
        back = await driver.say(PARENT, "Dank je!", reply_to=relayed)
        assert "Doorgestuurd naar het programmabureau" in str(back[-1].params.get("text"))
        assert stored_messages(driver) == stored_before + 3  # each once
    print(f"\n{fault}: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()))
