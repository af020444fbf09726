"""Limits per person on what reaches the programme office: at most `inbox.limits` threads an
hour and a day (anonymous ones too), and `mao-bot block` for someone who abuses it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from conftest import ADMIN_ID, FakeClock, texts
from sqlalchemy import func, select

from bot.cli import main
from bot.config import AppConfig
from bot.offline.driver import BotDriver
from storage.models import InboxThread
from storage.personal_data import personal_data

GROUP = -1001234567890
PARENT, OTHER = 4101, 4102


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    return config.model_copy(update={"inbox": config.inbox.model_copy(update={"chat_id": GROUP})})


def thread_count(driver: BotDriver) -> int:
    with driver.services.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(InboxThread)) or 0)


async def anonymous_bottleneck(driver: BotDriver, user: int, number: int) -> list[str]:
    """/knelpunt, a text, "Anoniem", "Ja, versturen": what the person saw at the end."""
    await driver.say(user, "/knelpunt")
    await driver.say(user, f"Knelpunt nummer {number}: de wachtlijst voor jeugdzorg is lang.")
    await driver.press(user, "Anoniem")
    return texts(await driver.press(user, "Ja, versturen"))


async def test_five_threads_an_hour_anonymous_ones_too(
    driver: BotDriver, clock: FakeClock
) -> None:
    for number in range(5):
        clock.advance(timedelta(minutes=1))
        done = await anonymous_bottleneck(driver, PARENT, number)
        assert "anoniem doorgestuurd" in done[0]
    clock.advance(timedelta(minutes=1))
    # The sixth within the hour: told before typing it, and when it can again (nl).
    refused = texts(await driver.say(PARENT, "/knelpunt"))
    assert len(refused) == 1
    assert "vanaf maandag 1 maart 2027, 11:01" in refused[0]  # the first one's time + 1 h
    assert "metandereogen@vng.nl" in refused[0]
    assert thread_count(driver) == 5
    assert len(await driver.messages_to(GROUP, "Knelpunt #")) == 5
    # Nothing stored names who sent them.
    with driver.services.db.session() as session:
        assert personal_data(session, PARENT).inbox == ()
    # Somebody else is not held back by it.
    assert "anoniem doorgestuurd" in (await anonymous_bottleneck(driver, OTHER, 9))[0]
    # An hour after the first, one more is allowed.
    clock.advance(timedelta(minutes=55))
    assert "anoniem doorgestuurd" in (await anonymous_bottleneck(driver, PARENT, 6))[0]
    assert thread_count(driver) == 7


async def test_the_limit_comes_from_config_and_speaks_english(
    driver: BotDriver, clock: FakeClock, config: AppConfig
) -> None:
    limits = config.inbox.limits.model_copy(update={"per_hour": 1})
    driver.services.config = config.model_copy(
        update={"inbox": config.inbox.model_copy(update={"limits": limits})}
    )
    await driver.say(PARENT, "/language")
    await driver.press(PARENT, "English")
    await driver.say(PARENT, "/story")
    await driver.say(PARENT, "A first story from practice about school and care.")
    await driver.press(PARENT, "With my first name")
    done = texts(await driver.press(PARENT, "Yes, send"))
    assert "Thank you" in done[0]
    clock.advance(timedelta(minutes=10))
    refused = texts(await driver.say(PARENT, "/story"))
    assert "you can send something again from" in refused[0]
    assert thread_count(driver) == 1


async def test_a_blocked_person_is_refused_politely(
    driver: BotDriver, tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "block-config.yaml"
    path.write_text(f"storage:\n  url: {db_url}\nadmins: [{ADMIN_ID}]\n", encoding="utf-8")
    assert main(["--config", str(path), "block", str(PARENT)]) == 0
    assert f"{PARENT} is blocked" in capsys.readouterr().out
    assert main(["--config", str(path), "block", "list"]) == 0
    assert f"{PARENT}  blocked since" in capsys.readouterr().out
    assert main(["--config", str(path), "block", "Jan"]) == 2
    refused = texts(await driver.say(PARENT, "/deelverhaal"))
    assert refused == [
        "Je berichten stuur ik niet meer door naar het programmabureau. Wil je hen toch iets "
        "laten weten? Mail dan naar metandereogen@vng.nl."
    ]
    assert thread_count(driver) == 0
    # The rest of the bot still answers them; /mijngegevens shows the block.
    assert texts(await driver.say(PARENT, "/agenda"))
    assert any(
        "Geblokkeerd voor het programmabureau" in t
        for t in texts(await driver.say(PARENT, "/mijngegevens"))
    )
    assert main(["--config", str(path), "unblock", str(PARENT)]) == 0
    assert main(["--config", str(path), "unblock", str(PARENT)]) == 1
    assert "verhalen" in texts(await driver.say(PARENT, "/deelverhaal"))[0]


async def test_privacy_names_the_limits(driver: BotDriver) -> None:
    shown = texts(await driver.say(PARENT, "/privacy"))[0]
    assert "hooguit 5 per uur en 20 per dag" in shown
    assert "ook na /vergeetmij" in shown
