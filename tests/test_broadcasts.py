"""Organiser broadcasts: admin-only flow, preview, blocked users, 429s, resume after a crash."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import ADMIN_ID, FakeClock, texts
from sqlalchemy import select

from bot.config import AppConfig, load_config
from bot.offline.driver import BotDriver, spawn_bot_process
from bot.offline.standin import BotApiStandIn, RateLimit
from bot.services import build_services
from storage.broadcasts import create_broadcast
from storage.db import Database
from storage.models import Broadcast, OutboxMessage, User
from storage.outbox import Tally, broadcast_tally
from storage.quiet_hours import QuietHours
from storage.users import touch_user
from storage.vocabulary import Recipients

ROOT = Path(__file__).resolve().parents[1]
TEST_ACTIVITIES = ROOT / "tests" / "data" / "activities-test.yaml"
NOW = datetime(2027, 3, 1, 9, tzinfo=UTC)


def add_users(db: Database, ids: range | list[int]) -> None:
    with db.session() as session:
        for user_id in ids:
            touch_user(session, user_id, NOW)


def received(standin: BotApiStandIn, text: str) -> Counter[int]:
    return Counter(
        c.chat_id or 0
        for c in standin.calls
        if c.method == "sendMessage" and c.params.get("text") == text
    )


async def wait_for(condition: Callable[[], bool], limit_seconds: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit_seconds
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_non_admins_cannot_broadcast(
    driver: BotDriver, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        calls = await driver.say(1234, "/omroep")
    assert "alleen de organisatoren" in texts(calls)[0]
    assert "Organiser command refused" in caplog.text
    calls = await driver.press_data(1234, "bc:send")
    assert not any("Versturen begonnen" in t for t in texts(calls))
    calls = await driver.say(1234, "/deelnemers")
    assert "alleen de organisatoren" in texts(calls)[0]
    with driver.services.db.session() as session:
        assert session.scalars(select(Broadcast)).all() == []


def admin_report(driver: BotDriver) -> str | None:
    """The organiser's status message, once it says the broadcast is done."""
    for (chat, _), message in driver.standin.messages.items():
        if chat == ADMIN_ID and "Aankondiging klaar" in str(message.get("text")):
            return str(message["text"])
    return None


async def test_admin_broadcasts_with_preview_and_report(driver: BotDriver) -> None:
    add_users(driver.services.db, range(100, 110))
    driver.standin.blocked_chats.add(105)
    await driver.say(108, "/afmeldennieuws")
    calls = await driver.say(ADMIN_ID, "/omroep")
    assert "Aan wie" in texts(calls)[0]
    calls = await driver.press(ADMIN_ID, "Iedereen")
    # 10 users + the admin; 108 opted out. The count shows as soon as the audience is chosen.
    assert "<b>10</b> ontvangers" in texts(calls)[0]
    # Typed text is plain text: what looks like HTML arrives exactly as typed.
    typed = "Let op: <b>nieuwe datum voor de dialoog & meer 🎉"
    message = "Let op: &lt;b&gt;nieuwe datum voor de dialoog &amp; meer 🎉"
    await driver.say(ADMIN_ID, typed)
    calls = await driver.press(ADMIN_ID, "Overslaan")
    shown = texts(calls)
    assert shown[1] == message  # the preview is the message itself
    assert "<b>10</b> ontvangers" in shown[2]
    await driver.press(ADMIN_ID, "Versturen")
    await wait_for(lambda: admin_report(driver) is not None)
    got = received(driver.standin, message)
    assert set(got) == {ADMIN_ID, *range(100, 105), 106, 107, 109}
    assert got.pop(ADMIN_ID) == 2  # the preview, and the announcement itself
    assert set(got.values()) == {1}
    report = admin_report(driver)
    assert report is not None
    assert "Afgeleverd: 9, onbevestigd: 0, geblokkeerd: 1, mislukt: 0" in report
    with driver.services.db.session() as session:
        assert session.scalar(select(User.blocked).where(User.telegram_id == 105)) is True
    # The blocked user is skipped next time; /start turns announcements back on for 108.
    await driver.say(108, "/start")
    await driver.say(ADMIN_ID, "/broadcast")
    await driver.press(ADMIN_ID, "Iedereen")
    await driver.say(ADMIN_ID, "Tweede bericht")
    calls = await driver.press(ADMIN_ID, "Overslaan")
    assert "<b>10</b> ontvangers" in texts(calls)[-1]
    await driver.press(ADMIN_ID, "Annuleren")


async def test_broadcast_to_an_activity_waiting_list_and_abort(
    config: AppConfig, clock: FakeClock
) -> None:
    activities = config.activities.model_copy(update={"file": TEST_ACTIVITIES})
    with_activities = config.model_copy(update={"activities": activities})
    async with BotDriver(lambda: build_services(with_activities, clock)) as driver:
        await _waiting_list_and_abort(driver)


async def _waiting_list_and_abort(driver: BotDriver) -> None:
    await driver.say(ADMIN_ID, "/omroep")
    await driver.press(ADMIN_ID, "Wachtlijst")
    calls = await driver.press(ADMIN_ID, 1)
    # Nobody waits for it: refused kindly, another group can be chosen (the admin is a user).
    assert "niemand" in texts(calls)[0]
    calls = await driver.press(ADMIN_ID, "Iedereen")
    assert "Typ je bericht" in texts(calls)[-1]
    calls = await driver.say(ADMIN_ID, "/annuleer")
    assert "niets verstuurd" in texts(calls)[0]


@pytest.mark.slow
async def test_429_answers_are_waited_out(config: AppConfig) -> None:
    standin = BotApiStandIn(rate_limit=RateLimit(per_second=4))
    async with BotDriver(lambda: build_services(config), standin) as driver:
        add_users(driver.services.db, range(200, 212))
        with driver.services.db.session() as session:
            broadcast_id = create_broadcast(
                session,
                ADMIN_ID,
                Recipients.EVERYONE,
                None,
                "Hallo allemaal",
                driver.services.now(),
            )
        await wait_for(lambda: counts_done(driver.services.db, broadcast_id), 60)
        result = tally_of(driver.services.db, broadcast_id)
        assert (result.sent, result.blocked, result.failed) == (12, 0, 0)
        assert standin.too_many_requests > 0
        assert set(received(standin, "Hallo allemaal").values()) == {1}


async def test_broadcast_resumes_after_a_crash_without_repeats(
    config: AppConfig, clock: FakeClock
) -> None:
    db = Database(config.storage.url)
    db.upgrade()
    add_users(db, range(300, 350))
    with db.session() as session:
        broadcast_id = create_broadcast(
            session, ADMIN_ID, Recipients.EVERYONE, None, "Na de crash", NOW
        )
        owed = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        for message in owed[:20]:
            message.status = "sent"
        # In flight when the last sender died: its lease has run out.
        owed[20].status = "sending"
        owed[20].lease_until = datetime.now(UTC) - timedelta(seconds=1)  # database clock
    async with BotDriver(lambda: build_services(config, clock)) as driver:
        await wait_for(lambda: counts_done(db, broadcast_id))
        got = received(driver.standin, "Na de crash")
        assert set(got) == set(range(320, 350))
        assert set(got.values()) == {1}


def tally_of(db: Database, broadcast_id: int) -> Tally:
    with db.session() as session:
        return broadcast_tally(session, broadcast_id)


def counts_done(db: Database, broadcast_id: int) -> bool:
    return tally_of(db, broadcast_id).open == 0


def test_quiet_hours() -> None:
    zone = ZoneInfo("Europe/Amsterdam")
    night = QuietHours(time(22), time(8), zone)

    def wait(moment: datetime, quiet: QuietHours) -> float:
        return (quiet.release(moment) - moment).total_seconds()

    assert wait(datetime(2027, 3, 1, 12, tzinfo=zone), night) == 0
    assert wait(datetime(2027, 3, 1, 23, tzinfo=zone), night) == 9 * 3600
    assert wait(datetime(2027, 3, 1, 7, 30, tzinfo=zone), night) == 1800
    assert (
        wait(datetime(2027, 3, 1, 13, tzinfo=zone), QuietHours(time(12), time(14), zone)) == 3600
    )


@pytest.mark.slow
async def test_sigkill_halfway_reaches_everyone_once(tmp_path: Path) -> None:
    """300 recipients, the bot process killed with SIGKILL halfway and started again."""
    recipients = range(10_000, 10_300)
    db_url = f"sqlite:///{tmp_path / 'kill.sqlite3'}"
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        f"storage:\n  url: {db_url}\nactivities:\n  file: null\n"
        # 200 a second: the second half takes long enough for the kill to land in it.
        "broadcast:\n  messages_per_second: 200\n  progress_every: 100000\n  lease: 2s\n"
        "  quiet_hours: null\n",  # real time: it may run at night
        encoding="utf-8",
    )
    db = Database(db_url)
    db.upgrade()
    add_users(db, recipients)
    with db.session() as session:
        broadcast_id = create_broadcast(
            session, ADMIN_ID, Recipients.EVERYONE, None, "Belangrijk nieuws", datetime.now(UTC)
        )
    standin = BotApiStandIn(rate_limit=RateLimit(per_second=200))
    await standin.start()
    try:
        first = await spawn_bot_process(config_file, standin)
        await wait_for(lambda: sum(received(standin, "Belangrijk nieuws").values()) >= 150, 120)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        halfway = sum(received(standin, "Belangrijk nieuws").values())
        assert halfway < len(recipients)
        second = await spawn_bot_process(config_file, standin)
        try:
            await wait_for(lambda: counts_done(db, broadcast_id), 180)
        finally:
            second.send_signal(signal.SIGTERM)
            await asyncio.wait_for(second.wait(), 30)
    finally:
        await standin.stop()
    got = received(standin, "Belangrijk nieuws")
    assert set(got) == set(recipients)
    duplicates = sum(got.values()) - len(recipients)
    # The documented cost of the window: what was on its way at the kill may go twice.
    in_flight = load_config(config_file, environ={}).broadcast.in_flight
    assert duplicates <= in_flight, f"{duplicates} duplicates after one crash"
    result = tally_of(db, broadcast_id)
    assert (result.sent, result.total) == (300, 300)
    print(f"SIGKILL after {halfway} messages; duplicates: {duplicates}")


async def test_broadcast_on_postgres(
    postgres_url: str, config: AppConfig, clock: FakeClock
) -> None:
    on_postgres = config.model_copy(
        update={"storage": config.storage.model_copy(update={"url": postgres_url})}
    )
    db = Database(postgres_url)
    db.upgrade()
    add_users(db, range(400, 430))
    with db.session() as session:
        broadcast_id = create_broadcast(
            session, ADMIN_ID, Recipients.EVERYONE, None, "Op Postgres", NOW
        )
        first = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).first()
        assert first is not None
        first.status = "sent"
    db.dispose()
    async with BotDriver(lambda: build_services(on_postgres, clock)) as driver:
        await wait_for(lambda: counts_done(driver.services.db, broadcast_id))
        got = received(driver.standin, "Op Postgres")
        assert set(got) == set(range(401, 430)) and set(got.values()) == {1}
