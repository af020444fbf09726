"""State that must survive a restart: an abandoned sign-up times out, a cancelled activity
loaded at start leaves no registration behind."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import FakeClock, texts
from sqlalchemy import select

from bot.config import AppConfig
from bot.offline.driver import BotDriver, buttons_of
from bot.services import build_services
from storage.models import ConversationState, Registration, UserData

TEST_ACTIVITIES = Path(__file__).resolve().parent / "data" / "activities-test.yaml"
PARENT, OTHER = 2101, 2102
QUESTION = "wanneer is de volgende dialoog?"
STOPPED = "Je aanmelding is gestopt"
AFTER_TIMEOUT = timedelta(minutes=31)  # config.yaml: signup.timeout 30m


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    activities = config.activities.model_copy(update={"file": TEST_ACTIVITIES})
    return config.model_copy(update={"activities": activities})


@pytest.fixture
async def driver(
    config: AppConfig, clock: FakeClock, migrated_db_url: str
) -> AsyncIterator[BotDriver]:
    # config's database, with the migrations already applied (a copy of the template)
    async with BotDriver(lambda: build_services(config, clock)) as bot_driver:
        yield bot_driver
    assert bot_driver.standin.rejected == []


async def start_signup_until_name(driver: BotDriver, user: int = PARENT) -> None:
    await driver.say(user, "/start signup_kleine-dialoog")
    calls = await driver.press(user, "Ouder")
    assert "Wat is je naam" in texts(calls)[0]


def stored_registrations(driver: BotDriver) -> list[str]:
    with driver.services.db.session() as session:
        return list(session.scalars(select(Registration.name)))


def stored_conversations(driver: BotDriver) -> int:
    with driver.services.db.session() as session:
        return len(session.scalars(select(ConversationState)).all())


async def faq_answer_of_a_stranger(driver: BotDriver) -> list[str]:
    return texts(await driver.say(OTHER, QUESTION))


async def test_sign_up_abandoned_before_a_restart_times_out(
    driver: BotDriver, clock: FakeClock
) -> None:
    await start_signup_until_name(driver)
    clock.advance(AFTER_TIMEOUT)
    await driver.restart()
    answer = texts(await driver.say(PARENT, QUESTION))
    assert STOPPED in answer[0]
    # Not taken as a name: no e-mail question; the question is answered as anyone's is.
    assert not any("e-mailadres" in text for text in answer)
    assert answer[1:] == await faq_answer_of_a_stranger(driver)
    assert stored_registrations(driver) == []
    assert stored_conversations(driver) == 0
    with driver.services.db.session() as session:
        drafts = [json.loads(row.data) for row in session.scalars(select(UserData))]
    assert not any("signup" in draft for draft in drafts)
    # Told once: the next message is simply answered.
    again = texts(await driver.say(PARENT, QUESTION))
    assert not any(STOPPED in text for text in again)


async def test_told_even_after_two_restarts(driver: BotDriver, clock: FakeClock) -> None:
    await start_signup_until_name(driver)
    clock.advance(AFTER_TIMEOUT)
    await driver.restart()
    await driver.restart()
    answer = texts(await driver.say(PARENT, QUESTION))
    assert STOPPED in answer[0]
    assert not any("e-mailadres" in text for text in answer)


async def test_a_sign_up_resumed_at_start_still_times_out_later(
    driver: BotDriver, clock: FakeClock
) -> None:
    """Loaded fresh at start (PTB then has no timeout job for it), abandoned afterwards."""
    await start_signup_until_name(driver)
    await driver.restart()
    clock.advance(AFTER_TIMEOUT)
    answer = texts(await driver.say(PARENT, QUESTION))
    assert STOPPED in answer[0]
    assert not any("e-mailadres" in text for text in answer)
    assert stored_registrations(driver) == []


async def test_a_quiet_sign_up_times_out_without_a_restart(
    driver: BotDriver, clock: FakeClock
) -> None:
    await start_signup_until_name(driver)
    clock.advance(AFTER_TIMEOUT)
    answer = texts(await driver.say(PARENT, "/agenda"))
    assert STOPPED in answer[0]
    assert "Agenda" in answer[1]


async def test_a_sign_up_within_the_timeout_resumes_after_a_restart(
    driver: BotDriver, clock: FakeClock
) -> None:
    await start_signup_until_name(driver)
    clock.advance(timedelta(minutes=20))
    await driver.restart()
    answer = texts(await driver.say(PARENT, "Anna de Vries"))
    assert "e-mailadres" in answer[0]
    assert not any(STOPPED in text for text in answer)
    # Each answer gives the sign-up its full time again.
    clock.advance(timedelta(minutes=20))
    await driver.restart()
    answer = texts(await driver.press(PARENT, "Overslaan"))
    assert "vraag" in answer[0]


async def test_an_old_style_stored_state_is_resumed(driver: BotDriver) -> None:
    """States stored before times were kept (a bare number) still resume after the update."""
    await start_signup_until_name(driver)
    with driver.services.db.session() as session:
        row = session.scalars(select(ConversationState)).one()
        row.state = json.dumps(json.loads(row.state)["state"])
    await driver.restart()
    answer = texts(await driver.say(PARENT, "Anna de Vries"))
    assert "e-mailadres" in answer[0]


async def test_cancelled_at_start_leaves_no_registration_shown(
    config: AppConfig, clock: FakeClock, tmp_path: Path
) -> None:
    """`status: cancelled` loaded from the file at start: /mijnaanmeldingen shows nothing
    to attend, and no calendar or cancel buttons for it."""
    activities_file = tmp_path / "activities.yaml"
    original = TEST_ACTIVITIES.read_text(encoding="utf-8")
    activities_file.write_text(original, encoding="utf-8")
    activities = config.activities.model_copy(update={"file": activities_file})
    ours = config.model_copy(update={"activities": activities})
    async with BotDriver(lambda: build_services(ours, clock)) as driver:
        await driver.say(PARENT, "/start signup_masterclass-ruim")
        await driver.press(PARENT, "Professional")
        await driver.press(PARENT, "Zorg")
        await driver.say(PARENT, "Anna de Vries")
        await driver.press(PARENT, "Overslaan")
        await driver.press(PARENT, "Geen vraag")
        await driver.press(PARENT, "akkoord")
        await driver.press(PARENT, "Bevestigen")
        shown = await driver.say(PARENT, "/mijnaanmeldingen")
        assert any("✅ Aangemeld" in text for text in texts(shown))

        marker = "  - slug: masterclass-ruim\n"
        assert marker in original
        activities_file.write_text(
            original.replace(marker, marker + "    status: cancelled\n"), encoding="utf-8"
        )
        await driver.restart()
        await driver.deliver_owed()
        assert len(await driver.messages_to(PARENT, "niet door")) == 1
        shown = await driver.say(PARENT, "/mijnaanmeldingen")
        assert not any("✅ Aangemeld" in text for text in texts(shown))
        assert "geen aanmeldingen" in texts(shown)[0]
        for call in shown:
            if call.method == "sendMessage":
                assert buttons_of(call.params) == []
        with driver.services.db.session() as session:
            assert session.scalars(select(Registration.status)).all() == ["cancelled"]
        assert driver.standin.rejected == []
