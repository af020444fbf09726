"""An anonymous story or bottleneck cannot be traced to its sender through the times the
database keeps: the query "who was seen in the five minutes before it arrived" does not
single the sender out when three people are active."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from conftest import FakeClock, texts
from sqlalchemy import select

from bot.config import AppConfig
from bot.offline.driver import BotDriver
from storage.models import ConversationState, InboxMessage, InboxThread, OutboxMessage, User
from storage.outbox import OutboxKind

GROUP = -1001234567890
SENDER, OTHER, THIRD = 4101, 4102, 4103
WINDOW = timedelta(minutes=5)


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    return config.model_copy(update={"inbox": config.inbox.model_copy(update={"chat_id": GROUP})})


def seen_just_before(driver: BotDriver, moment: datetime) -> list[int]:
    """The de-anonymising query: who was last seen in the five minutes up to `moment`."""
    with driver.services.db.session() as session:
        return sorted(
            session.scalars(
                select(User.telegram_id).where(User.last_seen.between(moment - WINDOW, moment))
            )
        )


async def test_who_was_seen_before_an_anonymous_bottleneck_does_not_name_the_sender(
    driver: BotDriver, clock: FakeClock
) -> None:
    for person in (SENDER, OTHER, THIRD):
        await driver.say(person, "/start")
    clock.advance(timedelta(minutes=20))
    await driver.say(OTHER, "wat is een fieldlab")  # the others are around too, a bit earlier
    await driver.say(THIRD, "wat is een fieldlab")
    clock.advance(timedelta(minutes=7))
    await driver.say(SENDER, "/knelpunt")
    clock.advance(timedelta(seconds=40))
    await driver.say(SENDER, "De wachtlijst voor jeugdhulp in onze gemeente is een jaar.")
    clock.advance(timedelta(seconds=5))
    await driver.press(SENDER, "Anoniem")
    clock.advance(timedelta(seconds=5))
    done = texts(await driver.press(SENDER, "Ja, versturen"))
    assert "anoniem doorgestuurd" in done[0]
    sent_at = clock.moment
    assert await driver.messages_to(GROUP, "Knelpunt #")
    clock.advance(timedelta(minutes=1))
    await driver.say(SENDER, "/agenda")  # right after it: still no trace of the sender

    with driver.services.db.session() as session:
        thread = session.scalars(select(InboxThread)).one()
        [message_time] = session.scalars(select(InboxMessage.created_at))
        copies = session.execute(
            select(OutboxMessage.created_at, OutboxMessage.due_at, OutboxMessage.sent_at).where(
                OutboxMessage.kind == OutboxKind.INBOX_TO_ORGANISERS.value
            )
        ).all()
    assert thread.user_id is None
    # Whatever moment one picks (the thread's, its copy's, the moment it was really sent),
    # the sender is not the one person seen just before it.
    moments = [thread.created_at, sent_at, *(t for row in copies for t in row if t)]
    for moment in moments:
        assert seen_just_before(driver, moment) != [SENDER], moment
    assert SENDER not in seen_just_before(driver, sent_at + timedelta(minutes=1))
    # Nor does the flow's own state outlive it (it carried the time of each step).
    with driver.services.db.session() as session:
        states = session.scalars(
            select(ConversationState.key).where(ConversationState.name == "inbox")
        ).all()
    assert states == []
    # Times of an anonymous thread are kept to the day (midnight in the programme's zone).
    zone = driver.services.config.zone
    for moment in (thread.created_at, thread.updated_at, message_time):
        local = moment.astimezone(zone)
        assert (local.hour, local.minute, local.second) == (0, 0, 0)
        assert local.date() == sent_at.astimezone(zone).date()


async def test_the_organisers_see_an_anonymous_thread_by_day_only(
    driver: BotDriver, clock: FakeClock
) -> None:
    await driver.say(SENDER, "/deelverhaal")
    await driver.say(SENDER, "Een verhaal uit de klas.")
    await driver.press(SENDER, "Anoniem")
    await driver.press(SENDER, "Ja, versturen")
    [listing] = texts(await driver.say(9001, "/vragen"))
    assert "anoniem" in listing and "00:00" not in listing and ":" not in listing.split("·")[2]
