"""The /omroep flow as a new organiser uses it: plain text, counts, edits, scheduling,
the Aanmelden button and an English version, through the real Application and stand-in."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import ADMIN_ID, ROOT, FakeClock, texts
from sqlalchemy import select

from bot.config import AppConfig
from bot.offline.driver import BotDriver, buttons_of
from bot.offline.standin import html_text
from core.schedule_input import parse_send_moment
from storage.models import Activity, Broadcast, OutboxMessage
from storage.users import set_language, touch_user

TEST_ACTIVITIES = ROOT / "tests" / "data" / "activities-test.yaml"
TYPED = "Koffie & thee <3 https://example.org"
ZONE = ZoneInfo("Europe/Amsterdam")


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    activities = config.activities.model_copy(update={"file": TEST_ACTIVITIES})
    return config.model_copy(update={"activities": activities})


def add_users(driver: BotDriver, ids: list[int], language: str = "nl") -> None:
    with driver.services.db.session() as session:
        for user_id in ids:
            touch_user(session, user_id, driver.services.now())
            set_language(session, user_id, language, driver.services.now())


def visible_received(driver: BotDriver, chat_id: int) -> list[str]:
    """What a user reads: the stand-in parses the HTML as Telegram does."""
    return [html_text(text)[0] for text in driver.standin.delivered_texts(chat_id)]


async def wait_for(condition: Callable[[], bool], limit_seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit_seconds
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.05)


def activity_id(driver: BotDriver, slug: str) -> int:
    with driver.services.db.session() as session:
        found = session.scalar(select(Activity.id).where(Activity.slug == slug))
    assert found is not None
    return found


async def test_plain_text_arrives_exactly_as_typed(driver: BotDriver) -> None:
    add_users(driver, [501, 502])
    await driver.say(ADMIN_ID, "/omroep")
    calls = await driver.press(ADMIN_ID, "Iedereen")
    # The count is shown as soon as the audience is chosen (2 users and the organiser).
    assert "<b>3</b> ontvangers" in texts(calls)[0]
    assert "Typ je bericht" in texts(calls)[-1]
    calls = await driver.say(ADMIN_ID, TYPED)
    assert "Engelse versie" in texts(calls)[0]
    calls = await driver.press(ADMIN_ID, "Overslaan")
    assert html_text(texts(calls)[1])[0] == TYPED  # the preview
    await driver.press(ADMIN_ID, "Versturen")
    await wait_for(lambda: TYPED in visible_received(driver, 502))
    assert visible_received(driver, 501).count(TYPED) == 1
    with driver.services.db.session() as session:
        broadcast = session.scalars(select(Broadcast)).one()
    assert broadcast.text == "Koffie &amp; thee &lt;3 https://example.org"


async def test_no_recipients_is_refused_kindly(driver: BotDriver) -> None:
    await driver.say(ADMIN_ID, "/omroep")
    await driver.press(ADMIN_ID, "Wachtlijst")
    calls = await driver.press(ADMIN_ID, 1)
    assert "niemand" in texts(calls)[0]
    # The audience buttons come again, in the organiser's language.
    latest = driver.latest_message_with_buttons(ADMIN_ID)
    assert latest is not None
    labels = [label for label, _ in buttons_of(latest)]
    assert any("Iedereen" in label for label in labels)
    calls = await driver.press(ADMIN_ID, "Deelnemers")
    assert "niemand" in texts(await driver.press(ADMIN_ID, 1))[0]
    with driver.services.db.session() as session:
        assert session.scalars(select(Broadcast)).all() == []


async def test_change_text_and_audience_after_the_preview(driver: BotDriver) -> None:
    add_users(driver, [601])
    await driver.say(ADMIN_ID, "/omroep")
    await driver.press(ADMIN_ID, "Iedereen")
    await driver.say(ADMIN_ID, "Eerste versie")
    await driver.press(ADMIN_ID, "Overslaan")
    calls = await driver.press(ADMIN_ID, "Tekst wijzigen")
    assert "Typ je bericht" in texts(calls)[0]
    await driver.say(ADMIN_ID, "Tweede versie")
    calls = await driver.press(ADMIN_ID, "Overslaan")
    assert texts(calls)[1] == "Tweede versie"
    calls = await driver.press(ADMIN_ID, "Ontvangers wijzigen")
    assert "Aan wie" in texts(calls)[0]
    calls = await driver.press(ADMIN_ID, "Ouders")
    # Nobody has the role "ouder" yet: refused, choose again; the text is kept.
    assert "niemand" in texts(calls)[0]
    calls = await driver.press(ADMIN_ID, "Iedereen")
    shown = texts(calls)
    assert "<b>2</b> ontvangers" in shown[0]
    assert "Tweede versie" in shown  # straight back to the preview
    await driver.press(ADMIN_ID, "Versturen")
    await wait_for(lambda: "Tweede versie" in visible_received(driver, 601))
    assert "Eerste versie" not in visible_received(driver, 601)


async def test_scheduled_broadcast_waits_for_its_moment(
    driver: BotDriver, clock: FakeClock
) -> None:
    add_users(driver, [701])
    await driver.say(ADMIN_ID, "/omroep")
    await driver.press(ADMIN_ID, "Iedereen")
    await driver.say(ADMIN_ID, "Morgenochtend nieuws")
    await driver.press(ADMIN_ID, "Overslaan")
    calls = await driver.press(ADMIN_ID, "Later versturen")
    assert "morgen 9:00" in texts(calls)[0]
    calls = await driver.say(ADMIN_ID, "gisteren 9:00")
    assert "niet lezen" in texts(calls)[0]
    calls = await driver.say(ADMIN_ID, "vandaag 8:00")  # 10:00 in Amsterdam now
    assert "voorbij" in texts(calls)[0]
    calls = await driver.say(ADMIN_ID, "morgen 9:00")
    assert "Ingepland" in texts(calls)[0] and "2 maart" in texts(calls)[0]
    moment = datetime(2027, 3, 2, 9, 0, tzinfo=ZONE)
    with driver.services.db.session() as session:
        broadcast = session.scalars(select(Broadcast)).one()
        due = set(session.scalars(select(OutboxMessage.due_at)))
    assert broadcast.scheduled_for == moment
    assert due == {moment.astimezone(UTC)}
    await driver.deliver_owed()
    assert "Morgenochtend nieuws" not in visible_received(driver, 701)
    clock.advance(timedelta(hours=22, minutes=59))  # 07:59 UTC: a minute before 9:00 CET
    await driver.deliver_owed()
    assert "Morgenochtend nieuws" not in visible_received(driver, 701)
    clock.advance(timedelta(minutes=1))
    await driver.deliver_owed()
    assert visible_received(driver, 701).count("Morgenochtend nieuws") == 1


async def test_signup_button_and_english_version(driver: BotDriver) -> None:
    add_users(driver, [801])
    add_users(driver, [802], language="en")
    await driver.say(ADMIN_ID, "/omroep")
    await driver.press(ADMIN_ID, "Iedereen")
    await driver.say(ADMIN_ID, "Kom naar de masterclass!")
    calls = await driver.say(ADMIN_ID, "Come to the masterclass!")
    assert "Come to the masterclass!" in texts(calls)
    await driver.press(ADMIN_ID, "Aanmeldknop")
    calls = await driver.press(ADMIN_ID, "Masterclass Netwerkregie")
    assert "Aanmelden" in texts(calls)[0]
    await driver.press(ADMIN_ID, "Versturen")
    # Both on their way at once (several messages are in flight): either may arrive first.
    await wait_for(
        lambda: (
            "Come to the masterclass!" in visible_received(driver, 802)
            and "Kom naar de masterclass!" in visible_received(driver, 801)
        )
    )
    assert "Kom naar de masterclass!" not in visible_received(driver, 802)
    announcement = next(
        c
        for c in driver.standin.delivered(801)
        if c.params.get("text") == "Kom naar de masterclass!"
    )
    markup = announcement.params["reply_markup"]
    [[button]] = markup["inline_keyboard"]
    assert button["text"] == "Aanmelden"
    assert button["callback_data"] == f"signup:pick:{activity_id(driver, 'masterclass-ruim')}"
    message = driver.latest_message(801)
    assert message is not None
    calls = await driver.press_data(801, button["callback_data"], message)
    assert any("Masterclass Netwerkregie" in t for t in texts(calls))
    english = next(
        c
        for c in driver.standin.delivered(802)
        if c.params.get("text") == "Come to the masterclass!"
    )
    assert english.params["reply_markup"]["inline_keyboard"][0][0]["text"] == "Sign up"


def test_parse_send_moment() -> None:
    now = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    assert parse_send_moment("morgen 9:00", now, ZONE) == datetime(2027, 3, 2, 9, tzinfo=ZONE)
    assert parse_send_moment("Vandaag 14.30", now, ZONE) == datetime(
        2027, 3, 1, 14, 30, tzinfo=ZONE
    )
    assert parse_send_moment("24-12 10:00", now, ZONE) == datetime(2027, 12, 24, 10, tzinfo=ZONE)
    assert parse_send_moment("01-01 10:00", now, ZONE) == datetime(2028, 1, 1, 10, tzinfo=ZONE)
    assert parse_send_moment("morgen 25:00", now, ZONE) is None
    assert parse_send_moment("31-02 10:00", now, ZONE) is None
    assert parse_send_moment("volgende week", now, ZONE) is None
