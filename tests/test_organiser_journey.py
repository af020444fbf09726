"""The organiser's day, end to end through the stand-in (issue "organisers run their
activities from their phone"): create a fieldlab in chat, a parent signs up, move it, check
the parent in at the door, the parent is asked for feedback after the end, /cijfers counts
all of it, and the attendee spreadsheet holds the parent's row."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import openpyxl
import pytest
from conftest import ADMIN_ID, FakeClock, texts
from sqlalchemy import select
from test_organiser_activities import TITLE, activities, open_card, publish_fieldlab, sign_up

from bot.config import AppConfig
from bot.offline.driver import BotDriver
from bot.services import build_services
from storage.models import OutboxMessage

PARENT = 2101


@pytest.fixture
async def driver(
    config: AppConfig, clock: FakeClock, migrated_db_url: str
) -> AsyncIterator[BotDriver]:
    # config's database, with the migrations already applied (a copy of the template)
    flood = config.flood.model_copy(update={"updates": 1000})  # the script taps quickly
    quick = config.model_copy(update={"flood": flood})
    async with BotDriver(lambda: build_services(quick, clock)) as bot_driver:
        yield bot_driver
    assert bot_driver.standin.rejected == []


def reminders(driver: BotDriver) -> list[datetime]:
    with driver.services.db.session() as session:
        return sorted(
            session.scalars(
                select(OutboxMessage.due_at).where(
                    OutboxMessage.kind == "reminder", OutboxMessage.status == "pending"
                )
            )
        )


async def test_an_organisers_day_from_the_phone(driver: BotDriver, clock: FakeClock) -> None:
    typed, tapped = await publish_fieldlab(driver)
    assert typed + tapped <= 12
    [activity] = activities(driver)
    assert any(TITLE in text for text in texts(await driver.say(PARENT, "/agenda")))
    await sign_up(driver, PARENT, activity.slug)
    await driver.deliver_owed()
    planned = reminders(driver)

    # Moved a week: the parent is told once, the reminders follow.
    await open_card(driver, activity.id)
    await driver.press(ADMIN_ID, "Verplaatsen")
    await driver.say(ADMIN_ID, "25 mei 14:00")
    await driver.deliver_owed()
    assert len(await driver.messages_to(PARENT, "verplaatst")) == 1
    assert reminders(driver) == [due + timedelta(days=7) for due in planned]

    # At the door: checked in.
    clock.moment = datetime(2027, 5, 25, 11, 45, tzinfo=UTC)
    await driver.deliver_owed()
    await driver.say(ADMIN_ID, "/incheck")
    await driver.press(ADMIN_ID, TITLE[:20])
    calls = await driver.press(ADMIN_ID, "◻️ Anna")
    assert any("aanwezig: 1" in str(c.params.get("text")) for c in calls)

    # After the end: one feedback question; the parent answers.
    clock.moment = datetime(2027, 5, 25, 16, 30, tzinfo=UTC)
    await driver.deliver_owed()
    assert len(await driver.messages_to(PARENT, "Hoe vond je")) == 1
    await driver.press(PARENT, "⭐5")
    await driver.say(PARENT, "Heel nuttig")

    # /cijfers counts it all.
    shown = texts(await driver.say(ADMIN_ID, "/cijfers"))[0]
    assert TITLE in shown
    assert "aanwezig 1" in shown and "reacties 1" in shown

    # The attendee spreadsheet holds the parent's row.
    await driver.say(ADMIN_ID, "/deelnemers")
    calls = await driver.press(ADMIN_ID, TITLE[:20])
    [document] = [c for c in calls if c.method == "sendDocument"]
    (name, data), *_ = document.files.values()
    assert name.endswith(".xlsx")
    rows = list(openpyxl.load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True))
    assert rows[0][0] == "Naam"
    assert any(row[0] == "Anna de Vries" for row in rows[1:])
