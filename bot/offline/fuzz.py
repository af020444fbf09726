"""Fuzzing through the real Application: random and hostile input, invariants checked.

Used by tests/test_fuzz.py (actions drawn by hypothesis) and benchmarks/fuzz.py (10,000
updates drawn by `random`). An action is what a person or a forger can do in Telegram:
type text or a command, press a button the bot showed (any of them, in any order, twice),
press forged callback data, send a sticker, talk in a group.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from bot.offline.driver import BotDriver, buttons_of, user_dict
from bot.offline.standin import BOT_COMMAND, command_entities
from storage.models import Activity, Registration, User

COMMANDS = (
    "/start",
    "/help",
    "/agenda",
    "/agenda fieldlab",
    "/aanmelden",
    "/signup",
    "/mijnaanmeldingen",
    "/annuleer",
    "/herinneringen",
    "/afmeldennieuws",
    "/taal",
    "/privacy",
    "/mijngegevens",
    "/vergeetmij",
    "/omroep",
    "/deelnemers",
    "/nieuweactiviteit",
    "/activiteiten",
    "/incheck",
    "/reacties",
    "/cijfers",
    "/start checkin_abcdefgh",
    "di 18 mei 14.00-16.00",
    "morgen 9:00",
    "/onbekend",
    "/ban@OtherBot",
    # Slashes that make no command (the first crashed the check for anonymous drafts).
    "/",
    "/@",
    "/ hoi",
    "/😀",
    "/start@",
    "/start signup_kleine-dialoog",
    "/start signup_fieldlab-aanbod",
    "/start signup_bestaat-niet",
    "/start " + "x" * 80,
)
QUESTIONS = (
    "wat is een fieldlab",
    "hoe meld ik me aan",
    "wanneer is de volgende dialoog?",
    "Anna de Vries",
    "anna@example.org",
    "ik kom met de rolstoel",
    "hallo",
    "What is MAO?",
    "hoe laat is het in Tokio",
    "Koffie & thee <3 voor iedereen",
    "<b>vet</b> & <i>schuin",
    "ja",
    "terug",
)
ODD_TEXT = ("\x00", "\u200c", "\u00ad", "\u202e", "👨‍👩‍👧", "&amp;", "<", ">", "&", "\n", " ")
FORGED = (
    "signup:pick:1",
    "signup:pick:999999",
    "signup:confirm",
    "signup:role:admin",
    "mine:cancelyes:1",
    "mine:cancelyes:2",
    "offer:claim:1",
    "bc:send",
    "bc:retry:1",
    "att:1",
    "oa:kind:fieldlab",
    "oa:change:title",
    "fb:results:1",
    "bc:retry:999",
    "forget:yes",
    "lang:set:de",
    "agenda:page:999:all",
    "faq:show:bestaat-niet",
    "x" * 64,
    "",
)
GROUP_CHAT = -1001234


@dataclass(frozen=True)
class Action:
    kind: str  # say, press, forge, sticker, group
    user: int
    text: str = ""
    number: int = 0


@dataclass
class FuzzReport:
    updates: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    errors: int = 0  # updates that reached the error handler
    rejected: list[str] = field(default_factory=list)  # calls Telegram would refuse
    unanswered: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)  # database invariants


class ErrorCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "handlers.errors":
            self.count += 1


def random_text(rng: random.Random) -> str:
    choice = rng.random()
    if choice < 0.3:
        return rng.choice(COMMANDS)
    if choice < 0.6:
        return rng.choice(QUESTIONS)
    if choice < 0.8:
        return "".join(rng.choice(ODD_TEXT + tuple("abcdé? ")) for _ in range(rng.randint(1, 30)))
    if choice < 0.9:
        return rng.choice("&<>é😀a ") * rng.randint(1000, 5000)
    return "".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(1, 200)))


def random_actions(rng: random.Random, count: int, users: tuple[int, ...]) -> list[Action]:
    actions: list[Action] = []
    for _ in range(count):
        user = rng.choice(users)
        roll = rng.random()
        if roll < 0.45:
            actions.append(Action("say", user, random_text(rng)))
        elif roll < 0.8:
            actions.append(Action("press", user, number=rng.randint(0, 50)))
        elif roll < 0.9:
            actions.append(Action("forge", user, rng.choice(FORGED)))
        elif roll < 0.95:
            actions.append(Action("sticker", user))
        else:
            actions.append(Action("group", user, random_text(rng)))
    return actions


def _message(user: int, chat: dict[str, Any], **content: Any) -> dict[str, Any]:
    return {
        "message": {
            "message_id": random.randint(1, 10**9),
            "date": 0,
            "chat": chat,
            "from": user_dict(user),
            **content,
        }
    }


async def _act(driver: BotDriver, action: Action) -> list[Any] | None:
    """Carry out one action; the calls it caused, or None when nothing was sent (no update)."""
    user = action.user
    if action.kind == "say":
        return await driver.say(user, action.text)
    if action.kind == "press":
        shown = [
            message
            for (chat, _), message in driver.standin.messages.items()
            if chat == user and buttons_of(message)
        ]
        if not shown:
            return None
        message = shown[action.number % len(shown)]
        buttons = [data for _, data in buttons_of(message) if not data.startswith("http")]
        if not buttons:
            return None
        return await driver.press_data(user, buttons[action.number % len(buttons)], message)
    if action.kind == "forge":
        return await driver.press_data(user, action.text)
    chat = {"id": user, "type": "private", "first_name": "Test"}
    if action.kind == "sticker":
        sticker = {
            "file_id": "s",
            "file_unique_id": "s",
            "type": "regular",
            "width": 1,
            "height": 1,
            "is_animated": False,
            "is_video": False,
        }
        return await driver.send_update(_message(user, chat, sticker=sticker), user)
    group = {"id": GROUP_CHAT, "type": "supergroup", "title": "Ouders"}
    text = action.text or "."
    update = _message(user, group, text=text)
    entities = command_entities(text)
    if entities:
        update["message"]["entities"] = entities
    await driver.send_update(update, GROUP_CHAT)
    return None  # a group may be ignored on purpose


def check_database(driver: BotDriver) -> list[str]:
    """No activity overbooked; no registration without a user; no seat held twice."""
    problems: list[str] = []
    with driver.services.db.session() as session:
        for activity in session.scalars(select(Activity)):
            if activity.capacity is None:
                continue
            taken = session.scalar(
                select(func.count()).where(
                    Registration.activity_id == activity.id,
                    Registration.status.in_(("registered", "offered")),
                )
            )
            if (taken or 0) > activity.capacity:
                problems.append(f"{activity.slug}: {taken} seats of {activity.capacity}")
        orphans = session.scalar(
            select(func.count()).where(
                Registration.user_id.not_in(select(User.telegram_id)),
                Registration.status != "cancelled",
            )
        )
        if orphans:
            problems.append(f"{orphans} registrations without a user")
    return problems


async def run_actions(driver: BotDriver, actions: list[Action]) -> FuzzReport:
    report = FuzzReport()
    counter = ErrorCounter()
    logging.getLogger().addHandler(counter)
    rejected_before = len(driver.standin.rejected)
    try:
        for action in actions:
            calls = await _act(driver, action)
            report.updates += 1
            report.by_kind[action.kind] += 1
            if calls is None or action.kind == "group":
                continue
            if action.kind in ("press", "forge"):
                if not any(c.method == "answerCallbackQuery" for c in calls):
                    report.unanswered.append(f"{action.kind} {action.text[:40]!r}")
            elif not calls and not _addressed_elsewhere(action.text):
                report.unanswered.append(f"{action.kind} {action.text[:40]!r}")
        await driver.deliver_owed()
    finally:
        logging.getLogger().removeHandler(counter)
    report.errors = counter.count
    report.rejected = [
        f"{call.method}: {reason}" for call, reason in driver.standin.rejected[rejected_before:]
    ]
    report.violations = check_database(driver)
    return report


def _addressed_elsewhere(text: str) -> bool:
    """A command for another bot (/ban@OtherBot) is deliberately not answered."""
    command = BOT_COMMAND.match(text)
    _, at, target = command.group().partition("@") if command else ("", "", "")
    return bool(at) and target != "mao_test_bot"
