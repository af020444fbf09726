"""The outbox wakes on the commit that owed a message (no handler kicks it), the person being
answered hears what their update owed them right after its answer, and Telegram's per-chat
limit holds for replies and bulk together (jobs/outbox.py, jobs/pacing.py, storage/db.py)."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import ADMIN_ID, ROOT, FakeClock, texts
from sqlalchemy.orm import Session
from test_signup_flow import TEST_ACTIVITIES, sign_up

import jobs.outbox
from bot.config import AppConfig
from bot.offline.driver import BotDriver
from bot.offline.standin import BotApiStandIn, RateLimit
from bot.services import build_services
from storage.broadcasts import create_broadcast
from storage.db import Database
from storage.outbox import OutboxKind, owe
from storage.users import touch_user
from storage.vocabulary import Recipients

NOTICE = "Iemand heeft gevraagd al zijn gegevens te wissen"
ANNOUNCEMENT = "Nieuws voor iedereen"


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    activities = config.activities.model_copy(update={"file": TEST_ACTIVITIES})
    return config.model_copy(update={"activities": activities})


def _owe_notice(session: Session, user_id: int, clock: FakeClock) -> None:
    owe(session, user_id, OutboxKind.ERASURE_NOTICE, clock(), payload={"count": 2})


async def _idle(driver: BotDriver) -> None:
    """The sender's first round is over: from here only a wake (or the poll) sends."""
    assert driver.application is not None
    sender = jobs.outbox.outbox_of(driver.application)
    await asyncio.sleep(0.3)
    async with sender.lock:
        pass


# -- nobody kicks the outbox by hand ------------------------------------------------------------

MANUAL_WAKE = re.compile(r"\.kick\(\)|\bdeliver_now\(|\.deliver_due\(")


def test_no_handler_or_job_wakes_the_outbox_by_hand() -> None:
    """A commit that owes messages wakes the sender (storage.db `when_owed`): a handler or
    job that still calls kick()/deliver_now()/deliver_due() is a call someone must remember,
    and 14 places in 7 files once had to."""
    offenders = []
    for folder in ("handlers", "jobs"):
        for path in sorted((ROOT / folder).glob("*.py")):
            if path == ROOT / "jobs" / "outbox.py":
                continue  # the sender itself
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if MANUAL_WAKE.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


# -- the commit wakes the sender -----------------------------------------------------------------


@pytest.fixture
def slow_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    # The sender's poll would find the row within a second anyway: only a wake sends it now.
    monkeypatch.setattr(jobs.outbox, "POLL_SECONDS", 60.0)


@pytest.mark.usefixtures("slow_poll")
@pytest.mark.parametrize("through_the_seam", [True, False], ids=["seam", "on-the-loop"])
async def test_a_message_owed_is_sent_without_a_kick(
    driver: BotDriver, clock: FakeClock, through_the_seam: bool
) -> None:
    await _idle(driver)
    asked = time.monotonic()
    if through_the_seam:
        await driver.services.db.run_session(_owe_notice, 5001, clock)
    else:
        with driver.services.db.session() as session:
            _owe_notice(session, 5001, clock)
    [notice] = await driver.messages_to(5001, NOTICE, limit_seconds=10)
    assert notice.at - asked < 5  # not the poll's 60 s


@pytest.mark.usefixtures("slow_poll")
async def test_a_broadcast_written_anywhere_starts_without_a_kick(
    driver: BotDriver, clock: FakeClock
) -> None:
    await _idle(driver)
    with driver.services.db.session() as session:
        for user_id in range(6000, 6080):  # more than are noted one by one
            touch_user(session, user_id, clock())
    with driver.services.db.session() as session:
        create_broadcast(session, ADMIN_ID, Recipients.EVERYONE, None, ANNOUNCEMENT, clock())
    assert await driver.messages_to(6079, ANNOUNCEMENT, limit_seconds=10)


def test_a_commit_tells_whom_it_owes_and_a_rollback_tells_nobody(
    tmp_path: Path, clock: FakeClock
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'wake.sqlite3'}")
    db.upgrade()
    heard: list[tuple[frozenset[int], bool]] = []
    stop = db.when_owed(lambda recipients, many: heard.append((recipients, many)))
    with db.session() as session:
        _owe_notice(session, 1, clock)
        _owe_notice(session, 2, clock)
    with pytest.raises(RuntimeError), db.session() as session:
        _owe_notice(session, 3, clock)
        raise RuntimeError("the change failed")
    with db.session() as session:
        session.info.pop("nothing", None)  # a transaction that owes nothing
    with db.session() as session:
        for n in range(200):
            _owe_notice(session, 100 + n, clock)
    stop()
    with db.session() as session:
        _owe_notice(session, 4, clock)
    db.dispose()
    assert heard[0] == (frozenset({1, 2}), False)
    assert len(heard) == 2 and heard[1][1] is True  # 200: "many", not 200 ids
    assert len(heard[1][0]) <= 64


# -- the person being answered -------------------------------------------------------------------


async def test_a_seat_confirmation_follows_the_answer_within_the_update(
    driver: BotDriver,
) -> None:
    """Signed up: the confirmation and calendar file come with the update (no call in the
    handler sends them), after the buttons closed, the file after its confirmation."""
    calls = await sign_up(driver, 7001, "kleine-dialoog", "Anna")
    methods = [c.method for c in calls if c.method != "answerCallbackQuery"]
    assert "Je bent aangemeld" in texts(calls)[0]
    assert methods.index("sendMessage") < methods.index("sendDocument")


# -- Telegram's per-chat limit: replies and bulk together ----------------------------------------


async def test_a_broadcast_message_right_after_a_reply_waits_for_the_chat(
    config: AppConfig, clock: FakeClock
) -> None:
    """The stand-in refuses a chat a second message within a second, as Telegram does: a
    person just answered gets the announcement a second later, not a 429 (the outbox used
    to send it at once, and the chat's 429 then held their next answer back too)."""
    standin = BotApiStandIn(rate_limit=RateLimit(per_second=30, per_chat_per_second=1.0))
    paced = config.model_copy(
        update={
            "broadcast": config.broadcast.model_copy(
                update={
                    "messages_per_second": 30.0,
                    "chat_gap": timedelta(seconds=1.1),
                    "progress_every": 100_000,
                }
            )
        }
    )
    async with BotDriver(lambda: build_services(paced, clock), standin) as driver:
        with driver.services.db.session() as session:
            for user_id in range(8000, 8005):
                touch_user(session, user_id, clock())
        replied = await driver.say(8002, "/start")
        assert texts(replied)
        with driver.services.db.session() as session:
            create_broadcast(session, ADMIN_ID, Recipients.EVERYONE, None, ANNOUNCEMENT, clock())
        # At once, not at the sender's next poll a second later (which would hide the gap).
        jobs.outbox.outbox_of(driver.application).kick()  # type: ignore[arg-type]
        [announcement] = await driver.messages_to(8002, ANNOUNCEMENT, limit_seconds=10)
        for user_id in range(8000, 8005):
            assert await driver.messages_to(user_id, ANNOUNCEMENT, limit_seconds=10)
    assert standin.too_many_requests == 0
    assert announcement.at - replied[-1].at >= 1.0


def test_the_stand_in_refuses_a_chat_faster_than_a_second_and_a_group_over_its_minute() -> None:
    limit = RateLimit(per_second=30, per_chat_per_second=1.0, per_group_per_minute=20)
    assert limit.check(5, 100.0) is None
    assert limit.check(5, 100.5) == 1.0  # the chat's second is not over
    assert limit.check(6, 100.5) is None  # another chat is not held back
    assert limit.check(5, 101.1) is None
    group = -100123
    for n in range(20):
        assert limit.check(group, 200.0 + 1.5 * n) is None
    wait = limit.check(group, 230.0)  # the 21st message within a minute
    assert wait is not None and 29 <= wait <= 31
    assert limit.check(group, 260.1) is None  # the first of them is a minute old


@pytest.mark.usefixtures("slow_poll")
async def test_the_sender_stops_when_a_wake_meets_the_stop(driver: BotDriver) -> None:
    """A commit's wake arriving as the sender is stopped: on Python 3.11 `wait_for` swallowed
    that cancellation, and the sender (and the bot's shutdown) waited forever."""
    await _idle(driver)
    assert driver.application is not None
    sender = jobs.outbox.outbox_of(driver.application)
    task = sender.task
    assert task is not None
    sender.wake.set()
    await asyncio.sleep(0)  # the wait is over, the sender not yet back: now the stop comes
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=5)
    assert task in done
