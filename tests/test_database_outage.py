"""A database outage (blackhole, refusal, a table lock, a read-only SQLite file): what needs no
database keeps answering within a second, what must write says so within five, /healthz
answers within a second, and after recovery everything owed arrives, once.

Run with `-s` to see the figures (seconds) of each fault."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import tornado.httpclient
from conftest import ADMIN_ID, FakeClock
from db_proxy import FaultyProxy
from sqlalchemy import make_url

from bot.config import AppConfig
from bot.offline.driver import BotDriver
from bot.services import build_services
from bot.webhook import WebhookServer
from core import callbacks
from storage.broadcasts import create_broadcast
from storage.users import touch_user
from storage.vocabulary import Recipients

AWAY_NL = "Ik kan je gegevens nu even niet bereiken"
ANNOUNCEMENT = "Aankondiging tijdens de storing"
RECIPIENTS = range(81_000, 81_100)
FAQ_QUESTION = "wat is een fieldlab"
last_agenda: list[str] = []  # the agenda as read before the outage


def with_url(config: AppConfig, url: str) -> AppConfig:
    return config.model_copy(
        update={
            "storage": config.storage.model_copy(update={"url": url, "read_timeout": 0.5}),
            "broadcast": config.broadcast.model_copy(
                # A claim whose answer the blackhole swallowed comes back after its lease.
                update={
                    "messages_per_second": 60.0,
                    "progress_every": 100_000,
                    "lease": timedelta(seconds=6),
                }
            ),
        }
    )


async def answer(driver: BotDriver, user_id: int, text: str) -> tuple[float, str]:
    """Seconds until the bot's first message to the user, and its text (the update's other
    work may go on after it). `text` "#<data>" presses that button of the latest buttons."""
    standin = driver.standin

    def push() -> int:
        if not text.startswith("#"):
            return standin.user_message(driver._user(user_id), text)
        message = driver.latest_message_with_buttons(user_id)
        assert message is not None
        return standin.press_button(driver._user(user_id), message, text[1:])

    return await first_message(driver, user_id, push)


async def first_message(
    driver: BotDriver, chat_id: int, push: Callable[[], int]
) -> tuple[float, str]:
    """Seconds until the bot's first message to `chat_id` after `push()` sent an update, and
    its text; returns once that update has been handled."""
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
        assert time.monotonic() - started < 15, f"no answer in {chat_id}"
        await asyncio.sleep(0.01)
    application = driver.application
    assert application is not None
    await asyncio.wait_for(application.processed_event(update_id).wait(), 15)  # type: ignore[attr-defined]
    return elapsed, str(sent[0].params.get("text", ""))


async def healthz(port: int) -> tuple[float, int, Any]:
    client = tornado.httpclient.AsyncHTTPClient()
    started = time.monotonic()
    response = await client.fetch(
        f"http://127.0.0.1:{port}/healthz", raise_error=False, request_timeout=10
    )
    return time.monotonic() - started, response.code, response.body


def announced(driver: BotDriver) -> Counter[int]:
    return Counter(
        c.chat_id or 0 for c in driver.standin.delivered() if c.params.get("text") == ANNOUNCEMENT
    )


async def until(condition: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def bot_with_healthz(
    config: AppConfig, clock: FakeClock
) -> AsyncIterator[tuple[BotDriver, int]]:
    async with BotDriver(lambda: build_services(config, clock)) as driver:
        assert driver.application is not None
        server = WebhookServer(
            driver.application,
            driver.services.db,
            listen="127.0.0.1",
            port=0,
            path="/hook",
            secret_token="outage-test-s3cret",
        )
        await server.start()
        try:
            yield driver, server.port
        finally:
            await server.stop()


async def warm_up(driver: BotDriver, port: int) -> None:
    """Before the outage: the matcher built, the agenda read once, the database healthy."""
    _, text = await answer(driver, 7001, FAQ_QUESTION)
    assert "fieldlab" in text.lower()
    _, agenda = await answer(driver, 7001, "/agenda")
    last_agenda[:] = [agenda]
    _, status, _ = await healthz(port)
    assert status == 200


async def during_the_outage(driver: BotDriver, port: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    faq_time, text = await answer(driver, 7002, FAQ_QUESTION)
    assert "fieldlab" in text.lower(), text
    figures["faq"] = faq_time
    help_time, text = await answer(driver, 7002, "/help")
    assert "/agenda" in text
    figures["help"] = help_time
    privacy_time, _ = await answer(driver, 7002, "/privacy")
    figures["privacy"] = privacy_time
    # 7002, not 7001: the announcement to 7001 may have just gone, and Telegram's one message
    # a second per chat would be measured, not the database. The agenda as 7001 last read it.
    agenda_time, text = await answer(driver, 7002, "/agenda")
    assert text == last_agenda[0]
    figures["agenda"] = agenda_time
    # A known user (their row is written): the warm-up's.
    write_time, text = await answer(driver, 7001, "/afmeldennieuws")
    assert AWAY_NL in text and "/afmeldennieuws" in text, text
    figures["write"] = write_time
    # A button whose action must write says which action did not happen.
    await answer(driver, 7001, "/taal")
    _, text = await answer(driver, 7001, "#" + callbacks.LANGUAGE_SET.data(language="en"))
    assert AWAY_NL in text and "‘🇬🇧 English’" in text, text
    health_time, status, body = await healthz(port)
    assert status == 503, body
    assert b"reason" in body
    figures["healthz"] = health_time
    assert max(faq_time, help_time, privacy_time, agenda_time, health_time) < 1.0, figures
    assert write_time < 5.0, figures
    return figures


async def after_recovery(driver: BotDriver, port: int, figures: dict[str, float]) -> None:
    # Everyone known when it was written: RECIPIENTS and the warm-up's user.
    await until(lambda: set(RECIPIENTS) <= set(announced(driver)), 40)
    got = announced(driver)
    figures["lost"] = len(set(RECIPIENTS) - set(got))  # 0 by now
    figures["duplicated"] = sum(got.values()) - len(got)
    # At most the messages on their way when the database went (broadcast.in_flight).
    assert figures["duplicated"] <= driver.services.config.broadcast.in_flight
    _, text = await answer(driver, 7001, "/afmeldennieuws")
    assert "geen aankondigingen meer" in text
    await until(lambda: driver.services.db.health.reason is None, 10)
    _, status, _ = await healthz(port)
    assert status == 200


def owe_announcement(driver: BotDriver, clock: FakeClock) -> None:
    with driver.services.db.session() as session:
        for user_id in RECIPIENTS:
            touch_user(session, user_id, clock())
        create_broadcast(session, ADMIN_ID, Recipients.EVERYONE, None, ANNOUNCEMENT, clock())
    assert driver.application is not None


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[FaultyProxy]:
    url = make_url(postgres_url)
    faulty = FaultyProxy((url.host or "127.0.0.1", url.port or 5432))
    faulty.start()
    yield faulty
    faulty.stop()


class TableLock:
    """Another client holding the tables the bot writes, as a long migration would."""

    def __init__(self, postgres_url: str, tables: str = "users, outbox") -> None:
        self.url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
        self.tables = tables
        self.connection: psycopg.Connection[Any] | None = None

    def take(self) -> None:
        self.connection = psycopg.connect(self.url)
        self.connection.execute(f"LOCK TABLE {self.tables} IN ACCESS EXCLUSIVE MODE")

    def release(self) -> None:
        if self.connection is not None:
            self.connection.rollback()
            self.connection.close()
            self.connection = None


async def begin_fault(fault: str, proxy: FaultyProxy, lock: TableLock) -> None:
    if fault == "blackhole":
        proxy.blackhole()
    elif fault == "refuse":
        proxy.refuse()
    else:
        await asyncio.to_thread(lock.take)


@pytest.mark.parametrize("fault", ["blackhole", "refuse", "lock"])
@pytest.mark.slow
async def test_postgresql_outage(
    fault: str, proxy: FaultyProxy, postgres_url: str, config: AppConfig, clock: FakeClock
) -> None:
    url = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
    outage_config = with_url(config, url.render_as_string(hide_password=False))
    lock = TableLock(postgres_url)
    async with bot_with_healthz(outage_config, clock) as (driver, port):
        await warm_up(driver, port)
        owe_announcement(driver, clock)
        await until(lambda: len(announced(driver)) >= 10, 20)
        await begin_fault(fault, proxy, lock)
        try:
            figures = await during_the_outage(driver, port)
        finally:
            proxy.heal()
            lock.release()
        await after_recovery(driver, port, figures)
    print(f"\n{fault}: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()))


# -- SQLite: a file that turns read-only, and writable again ------------------------------------


def make_read_only(path: Path, read_only: bool) -> bool:
    """chmod, or for root (whom chmod does not stop) the immutable flag. The -shm file stays
    writable (SQLite maps it into memory), as on a read-only mount it would be absent."""
    if not read_only:
        if shutil.which("chattr"):
            subprocess.run(["chattr", "-i", str(path)], check=False, capture_output=True)
        path.chmod(0o644)
        return True
    path.chmod(0o444)
    if not _writable_anyway(path):
        return True
    if shutil.which("chattr") is None:
        return False
    done = subprocess.run(["chattr", "+i", str(path)], check=False, capture_output=True)
    return done.returncode == 0 and not _writable_anyway(path)


def _writable_anyway(path: Path) -> bool:
    try:
        with path.open("r+b"):
            return True
    except OSError:
        return False


@pytest.mark.slow
async def test_a_read_only_sqlite_file_degrades_and_recovers_without_restart(
    config: AppConfig, clock: FakeClock, tmp_path: Path
) -> None:
    database = tmp_path / "mao.sqlite3"
    async with bot_with_healthz(with_url(config, f"sqlite:///{database}"), clock) as (
        driver,
        port,
    ):
        await warm_up(driver, port)
        owe_announcement(driver, clock)
        if not make_read_only(database, True):
            pytest.skip("cannot make a file read-only here (root without chattr)")
        try:
            # The connections the bot opens from now on can only read.
            driver.services.db.engine.dispose()
            figures = await during_the_outage(driver, port)
        finally:
            make_read_only(database, False)
        await after_recovery(driver, port, figures)
    print("\nread-only: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()))
