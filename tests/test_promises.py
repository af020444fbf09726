"""What the bot says about people and data is true of the code and the config: nobody is told
"sent" when nobody reads it, no answer time is promised that the programme did not give, and
every retention period in a text comes from config."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import ROOT, FakeClock, texts
from sqlalchemy import func, select

from bot.cli import main
from bot.config import AppConfig
from bot.offline.driver import BotDriver, buttons_of
from bot.services import build_services
from core.settings import AnswerWithinConfig
from storage.models import InboxThread
from storage.organisers import add_organiser
from storage.persistence_store import load_user_data

PARENT = 4201
# Nothing in the FAQ is about this: the honest fallback.
QUESTION = "Mijn zoon en zijn juf praten langs elkaar heen, wie kan daar eens naar kijken?"
EMAIL = "metandereogen@vng.nl"


def driver_for(config: AppConfig) -> BotDriver:
    return BotDriver(lambda: build_services(config, FakeClock()))


def thread_count(driver: BotDriver) -> int:
    with driver.services.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(InboxThread)) or 0)


# -- nobody to receive a hand-over: the shipped config (admins: [], no inbox.chat_id) --------


@pytest.fixture
def nobody(config: AppConfig) -> AppConfig:
    assert config.inbox.chat_id is None
    return config.model_copy(update={"admins": ()})


async def test_with_nobody_to_read_it_people_get_the_mail_address_not_a_handover(
    nobody: AppConfig,
) -> None:
    async with driver_for(nobody) as driver:
        fallback = texts(await driver.say(PARENT, QUESTION))[0]
        assert EMAIL in fallback and "knop" not in fallback
        assert buttons_of(driver.latest_message(PARENT) or {}) == []
        human = texts(await driver.say(PARENT, "ben je een mens?"))[0]
        assert EMAIL in human and "knop" not in human
        for command in ("/knelpunt", "/deelverhaal"):
            [answer] = texts(await driver.say(PARENT, command))
            assert "niemand" in answer and EMAIL in answer
        # Text after it is a question for the FAQ again, not a story to send.
        await driver.say(PARENT, "Een verhaal dat nergens heen kan.")
        assert thread_count(driver) == 0
        assert not any(
            "Verstuurd" in t or "doorgestuurd" in t for t in texts(driver.standin.calls)
        )
        with driver.services.db.session() as session:
            kept = load_user_data(session).get(PARENT, {})
        assert "unanswered" not in kept  # no question kept for a hand-over that cannot be


async def test_an_organiser_added_later_makes_the_handover_appear(
    nobody: AppConfig,
) -> None:
    async with driver_for(nobody) as driver:
        with driver.services.db.session() as session:
            add_organiser(session, 9100, driver.services.now())
        fallback = texts(await driver.say(PARENT, QUESTION))[0]
        assert "knop hieronder" in fallback
        done = texts(await driver.press(PARENT, "programmabureau"))
        assert done and thread_count(driver) == 0  # the preview, nothing sent yet
        done = texts(await driver.press(PARENT, "Ja, versturen"))
        assert "Verstuurd naar het programmabureau" in done[0]
        assert thread_count(driver) == 1


def test_check_config_warns_when_nobody_receives_handovers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    shutil.copy(ROOT / "config.yaml", path)
    assert main(["--config", str(path), "check-config"]) == 0
    err = capsys.readouterr().err
    assert "warning: inbox:" in err and "admin add" in err and EMAIL in err
    path.write_text(path.read_text().replace("admins: []", "admins: [12345]"))
    assert main(["--config", str(path), "check-config"]) == 0
    assert "warning: inbox" not in capsys.readouterr().err


# -- answer time: promised only when the programme configures one ----------------------------


async def test_no_answer_time_is_promised_unless_configured(config: AppConfig) -> None:
    assert config.inbox.answer_within is None  # the shipped config makes no promise
    promised = config.model_copy(
        update={
            "inbox": config.inbox.model_copy(
                update={"answer_within": AnswerWithinConfig(nl="binnen een week", en="in a week")}
            )
        }
    )
    for setting, expected in ((config, None), (promised, "binnen een week")):
        async with driver_for(setting) as driver:
            await driver.say(PARENT, QUESTION)
            [preview] = texts(await driver.press(PARENT, "programmabureau"))
            [done] = texts(await driver.press(PARENT, "Ja, versturen"))
            for text in (preview, done):
                assert "werkdag" not in text
                if expected is None:
                    assert "binnen" not in text and "in deze chat." in text
                else:
                    assert f"in deze chat, {expected}." in text
