"""One user cannot slow the bot down for everyone: the flood limit per user, the cap on the
unanswered questions one user can leave, and updates of different users processed at once
while each user's stay in order."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import texts
from pydantic import ValidationError
from sqlalchemy import func, select
from telegram import Update

from bot.config import AppConfig
from bot.offline.driver import BotDriver, ObservedApplication, user_dict
from bot.offline.standin import ApiCall
from bot.services import build_services
from bot.updates import PerUserUpdateProcessor
from core import callbacks
from core.flood_guard import FloodGuard, SlidingWindow, Verdict
from core.settings import FloodConfig
from storage.models import ConversationState, FaqMiss, Registration

FLOODER, OTHER, SECOND = 4001, 4002, 4003
SLOW_DOWN = "rustig aan"
FIELDLAB = "wat is een fieldlab"


@dataclass
class ManualClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


# -- the window, without Telegram ----------------------------------------------------------------


def test_the_window_lets_the_limit_through_then_refuses_once_per_burst() -> None:
    clock = ManualClock()
    window = SlidingWindow(limit=30, per=10.0, clock=clock)
    assert [window.check("a") for _ in range(30)] == [Verdict.PASS] * 30
    assert window.check("a") is Verdict.FIRST_REFUSAL
    assert [window.check("a") for _ in range(50)] == [Verdict.REFUSED] * 50
    assert window.check("b") is Verdict.PASS  # another user is not affected
    clock.now += 10.0  # the window slid past the first 30
    assert window.check("a") is Verdict.PASS


def test_a_sustained_flood_is_told_once_and_gets_the_limit_through() -> None:
    clock = ManualClock()
    window = SlidingWindow(limit=30, per=10.0, clock=clock)
    passed_at: list[float] = []
    verdicts: list[Verdict] = []
    for _ in range(600):  # ten a second for a minute
        verdict = window.check("a")
        verdicts.append(verdict)
        if verdict is Verdict.PASS:
            passed_at.append(clock.now)
        clock.now += 0.1
    assert verdicts.count(Verdict.FIRST_REFUSAL) == 1
    # Never more than the limit within any 10 seconds.
    assert all(sum(1 for t in passed_at if start <= t < start + 10.0) <= 30 for start in passed_at)
    # After a quiet window, a new burst is told again.
    clock.now += 10.0
    for _ in range(30):
        window.check("a")
    assert window.check("a") is Verdict.FIRST_REFUSAL


def test_twenty_updates_in_ten_seconds_always_pass() -> None:
    for settings in (FloodConfig(), FloodConfig(updates=20)):
        clock = ManualClock()
        guard = FloodGuard.from_settings(settings, clock)
        # Twenty at once, three times in a row, ten seconds apart ...
        for _ in range(3):
            assert all(guard.updates.check(1) is Verdict.PASS for _ in range(20))
            clock.now += 10.0
        # ... and a steady two a second for two minutes.
        for _ in range(240):
            assert guard.updates.check(2) is Verdict.PASS
            clock.now += 0.5
    with pytest.raises(ValidationError):
        FloodConfig(updates=19)  # a setting that would bother quick typists is refused


def test_the_window_forgets_quiet_users() -> None:
    clock = ManualClock()
    window = SlidingWindow(limit=30, per=10.0, clock=clock)
    for user in range(5000):
        window.check(user)
    clock.now += 11.0
    for user in range(5000, 10_000):
        window.check(user)
    assert len(window) == 5000  # the first 5000 were quiet for a whole window: swept out


def test_misses_are_counted_per_user_and_hour() -> None:
    clock = ManualClock()
    guard = FloodGuard.from_settings(FloodConfig(), clock)
    assert [guard.misses.check(1) is Verdict.PASS for _ in range(21)] == [True] * 20 + [False]
    assert guard.misses.check(2) is Verdict.PASS
    clock.now += 3600.0
    assert guard.misses.check(1) is Verdict.PASS


# -- the processor, without Telegram -------------------------------------------------------------


def update_of(user_id: int, update_id: int) -> Any:
    return Update.de_json(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 0,
                "chat": {"id": user_id, "type": "private"},
                "from": user_dict(user_id),
                "text": "x",
            },
        },
        None,
    )


@dataclass
class Recorder:
    running: int = 0
    most_running: int = 0

    def __post_init__(self) -> None:
        self.events: list[tuple[str, int, int, float]] = []

    async def work(self, user: int, seq: int, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        self.events.append(("start", user, seq, loop.time()))
        await asyncio.sleep(seconds)
        self.events.append(("end", user, seq, loop.time()))
        self.running -= 1


async def feed(
    processor: PerUserUpdateProcessor,
    recorder: Recorder,
    plan: list[tuple[int, int]],
    seconds: Callable[[int, int], float],
) -> None:
    """Starts one task per update in arrival order, as PTB's Application does."""
    tasks = [
        asyncio.create_task(
            processor.process_update(
                update_of(user, n), recorder.work(user, seq, seconds(user, seq))
            )
        )
        for n, (user, seq) in enumerate(plan, start=1)
    ]
    await asyncio.gather(*tasks)


async def test_each_users_updates_run_in_order_and_users_run_at_once() -> None:
    processor = PerUserUpdateProcessor(max_running=64)
    recorder = Recorder()
    rng = random.Random(7)
    plan = [(user, seq) for seq in range(20) for user in (1, 2, 3, 4)]
    durations = {step: rng.uniform(0, 0.005) for step in plan}
    await feed(processor, recorder, plan, lambda user, seq: durations[(user, seq)])
    for user in (1, 2, 3, 4):
        mine = [(kind, seq) for kind, u, seq, _ in recorder.events if u == user]
        # Strictly one after the other: start 0, end 0, start 1, end 1, ...
        assert mine == [(kind, seq) for seq in range(20) for kind in ("start", "end")]
    assert recorder.most_running > 1
    assert processor.busy_lanes == 0  # idle users leave nothing behind


async def test_running_updates_are_bounded_and_waiting_ones_hold_no_slot() -> None:
    processor = PerUserUpdateProcessor(max_running=2)
    recorder = Recorder()
    # One busy user with 50 updates, then five others with one each.
    plan = [(1, seq) for seq in range(50)] + [(user, 0) for user in range(2, 7)]
    await feed(processor, recorder, plan, lambda user, seq: 0.01)
    assert recorder.most_running == 2
    ended = {(user, seq): at for kind, user, seq, at in recorder.events if kind == "end"}
    # The others did not wait for the busy user's 50: all were done before its 10th.
    assert max(ended[(user, 0)] for user in range(2, 7)) < ended[(1, 9)]


# -- end to end ----------------------------------------------------------------------------------


async def push_all(driver: BotDriver, update_ids: list[int]) -> None:
    application = driver.application
    assert isinstance(application, ObservedApplication)
    await asyncio.wait_for(
        asyncio.gather(*(application.processed_event(u).wait() for u in update_ids)), 30
    )


def say_quickly(driver: BotDriver, user_id: int, text: str) -> int:
    """Sent without waiting for the answer, as a flood does."""
    return driver.standin.user_message(user_dict(user_id), text)


def to_chat(driver: BotDriver, chat_id: int) -> list[ApiCall]:
    return [c for c in driver.standin.calls if c.chat_id == chat_id]


def miss_questions(driver: BotDriver) -> list[str]:
    with driver.services.db.session() as session:
        return list(session.scalars(select(FaqMiss.question).order_by(FaqMiss.id)))


async def test_twenty_quick_messages_are_all_answered(driver: BotDriver) -> None:
    await push_all(driver, [say_quickly(driver, FLOODER, FIELDLAB) for _ in range(20)])
    answers = texts(to_chat(driver, FLOODER))
    assert len(answers) == 20 and not any(SLOW_DOWN in text for text in answers)


async def test_a_flood_is_told_once_and_the_rest_leaves_nothing(
    config: AppConfig, clock: Any
) -> None:
    # Room for every miss a flood could leave, so what is stored shows what was dropped.
    generous = config.model_copy(update={"flood": FloodConfig(misses_per_hour=1000)})
    async with BotDriver(lambda: build_services(generous, clock)) as driver:
        questions = [f"hoe laat is het in Tokio {n}" for n in range(40)]
        await push_all(driver, [say_quickly(driver, FLOODER, q) for q in questions])
        answers = texts(to_chat(driver, FLOODER))
        assert sum(SLOW_DOWN in text for text in answers) == 1
        fallbacks = [text for text in answers if "geen goed antwoord" in text]
        assert len(fallbacks) == generous.flood.updates == 30
        # Only the questions that passed were kept; the dropped ones left no miss.
        assert miss_questions(driver) == questions[:30]
        with driver.services.db.session() as session:
            assert session.scalar(select(func.count()).select_from(ConversationState)) == 0


async def test_one_user_cannot_store_more_than_a_few_misses_an_hour(
    driver: BotDriver,
) -> None:
    assert driver.services.config.flood.misses_per_hour == 20
    for n in range(25):
        calls = await driver.say(FLOODER, f"hoe laat is het in Tokio {n}")
        assert "geen goed antwoord" in texts(calls)[0]  # everyone still gets the answer
    assert len(miss_questions(driver)) == 20
    await driver.say(OTHER, "hoe laat is het in Lima")
    assert miss_questions(driver)[-1] == "hoe laat is het in Lima"


async def test_another_user_is_answered_during_a_flood(driver: BotDriver) -> None:
    flood = [say_quickly(driver, FLOODER, FIELDLAB) for _ in range(40)]
    question = say_quickly(driver, OTHER, FIELDLAB)
    await push_all(driver, [*flood, question])
    entry = driver.services.faq.entry("fieldlab")
    assert entry is not None
    [answer] = texts(to_chat(driver, OTHER))
    assert answer.startswith(entry.nl.answer)
    # The other user did not wait for the flood: answered before most of it.
    calls = driver.standin.calls
    other_at = next(i for i, c in enumerate(calls) if c.chat_id == OTHER)
    flood_answers = [i for i, c in enumerate(calls) if c.chat_id == FLOODER]
    assert other_at < flood_answers[5]


async def test_group_chatter_never_counts_against_anyone(driver: BotDriver) -> None:
    group = {"id": -100123, "type": "supergroup", "title": "Ouders"}
    for n in range(40):
        message = {"message_id": n + 1, "date": 0, "chat": group, "from": user_dict(FLOODER)}
        driver.standin.push_update({"message": {**message, "text": f"hoi {n}"}})
    calls = await driver.say(FLOODER, FIELDLAB)
    assert not any(SLOW_DOWN in text for text in texts(calls))
    assert texts(to_chat(driver, -100123)) == []


def press_quickly(driver: BotDriver, user_id: int, data: str) -> int:
    message = {"message_id": 1, "date": 0, "chat": {"id": user_id, "type": "private"}}
    return driver.standin.press_button(user_dict(user_id), {**message, "text": "-"}, data)


@pytest.fixture
def signup_config(config: AppConfig) -> AppConfig:
    test_activities = Path(__file__).resolve().parent / "data" / "activities-test.yaml"
    activities = config.activities.model_copy(update={"file": test_activities})
    return config.model_copy(update={"activities": activities})


async def test_a_fast_sign_up_stays_in_order(signup_config: AppConfig, clock: Any) -> None:
    async with BotDriver(lambda: build_services(signup_config, clock)) as driver:
        steps: list[Callable[[int], int]] = [
            lambda u: say_quickly(driver, u, "/start signup_kleine-dialoog"),
            lambda u: press_quickly(driver, u, callbacks.SIGNUP_ROLE.data(role="ouder")),
            lambda u: say_quickly(driver, u, f"Ouder {u}"),
            lambda u: press_quickly(driver, u, callbacks.SIGNUP_SKIP_EMAIL.data()),
            lambda u: press_quickly(driver, u, callbacks.SIGNUP_SKIP_QUESTION.data()),
            lambda u: press_quickly(driver, u, callbacks.SIGNUP_CONSENT.data(answer="yes")),
            lambda u: press_quickly(driver, u, callbacks.SIGNUP_CONFIRM.data()),
        ]
        # Two people tap through the whole flow at once, without waiting for any answer.
        await push_all(driver, [step(user) for step in steps for user in (OTHER, SECOND)])
        with driver.services.db.session() as session:
            rows = session.execute(select(Registration.user_id, Registration.name)).all()
        assert sorted(tuple(row) for row in rows) == [
            (OTHER, f"Ouder {OTHER}"),
            (SECOND, f"Ouder {SECOND}"),
        ]
        for user in (OTHER, SECOND):
            answers = texts(to_chat(driver, user))
            assert any("Je bent aangemeld" in text for text in answers)
            assert not any("knoppen" in text for text in answers)  # no step came too early
