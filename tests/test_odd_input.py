"""Odd input from organisers and names: asked again with an example, never a crash; names
reach organisers without bidi overrides or invisible characters."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ADMIN_ID, texts
from sqlalchemy import select, update

from bot.config import AppConfig
from bot.offline.driver import BotDriver, buttons_of, user_dict
from storage.models import InboxThread

GROUP = -1001234567890
PARENT = 4201
CRASHED = "Oeps, er ging iets mis"


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    flood = config.flood.model_copy(update={"updates": 1_000})
    inbox = config.inbox.model_copy(update={"chat_id": GROUP})
    return config.model_copy(update={"flood": flood, "inbox": inbox})


async def test_odd_capacity_dates_and_durations_are_asked_again(driver: BotDriver) -> None:
    async def say(text: str) -> str:
        answer = texts(await driver.say(ADMIN_ID, text))
        assert answer and not any(CRASHED in t for t in answer), (text, answer)
        return answer[0]

    await say("/nieuweactiviteit")
    await say("Fieldlab Vreemde Invoer")
    await driver.press(ADMIN_ID, "Fieldlab")
    for far in ("31-12-9999 14:00", "9999-12-31 14:00", "31 dec 9999 14:00", "1-1-0001 10:00"):
        answer = await say(far)
        assert "jaren van vandaag af" in answer and "<i>18 mei 14:00</i>" in answer, far
    assert "Hoe lang" in await say("di 18 mei 14:00")
    for odd in ("9" * 400 + " min", "1" * 40 + " uur"):
        assert "<i>90 min</i>" in await say(odd), odd
    assert "Waar" in await say("90 min")
    assert "plekken" in await say("Karakter, Arnhem")
    for odd in ("²", "①", "⑫ plekken", "9" * 5000, "-3", "0"):
        answer = await say(odd)
        assert "bijvoorbeeld <i>25</i>" in answer and "10000" in answer, odd
    # Digits of another script are digits all the same.
    assert "vol" in await say("٣٠")
    assert "Voor wie" in texts(await driver.press(ADMIN_ID, "Eerste op de wachtlijst"))[0]


def test_plain_name_drops_bidi_and_invisible_characters() -> None:
    from core.text_limits import plain_name

    assert plain_name("\u202eannA\u202c") == "annA"
    assert plain_name("An\u200bna \u2066de\u2069 Vries\ufeff") == "Anna de Vries"
    assert plain_name("\u200f\u200e\u061cSara") == "Sara"
    # Joiners shape scripts and emoji, and stay.
    assert plain_name("مهر\u200cناز") == "مهر\u200cناز"
    assert plain_name("👩\u200d💻 Eva") == "👩\u200d💻 Eva"


async def test_a_first_name_reaches_organisers_without_bidi_tricks(
    driver: BotDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    tricky = "\u202eAnna\u200b\u2066X\u2069"

    def user(user_id: int) -> dict[str, Any]:
        return user_dict(user_id, "nl", first_name=tricky if user_id == PARENT else "Test")

    monkeypatch.setattr(driver, "_user", user)
    await driver.say(PARENT, "Mijn zoon en zijn juf praten langs elkaar heen, wie kijkt daarnaar?")
    labels = [label for label, _ in buttons_of(driver.latest_message(PARENT) or {})]
    await driver.press(PARENT, next(label for label in labels if "programmabureau" in label))
    await driver.press(PARENT, "Ja, versturen")
    with driver.services.db.session() as session:
        [stored] = session.scalars(select(InboxThread.first_name)).all()
    assert stored == "AnnaX"
    [copy] = texts(await driver.messages_to(GROUP, "Vraag #"))
    assert "AnnaX" in copy
    for hidden in ("\u202e", "\u200b", "\u2066", "\u2069"):
        assert hidden not in copy
    # Threads stored before names were cleaned are cleaned where they are shown.
    with driver.services.db.session() as session:
        session.execute(update(InboxThread).values(first_name=tricky))
    listing = texts(await driver.say(ADMIN_ID, "/vragen"))[0]
    assert "AnnaX" in listing and "\u202e" not in listing
