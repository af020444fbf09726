"""Calendars stay right when an activity moves or a place ends (issue 19, §4): the move's
message comes before its new file (also when the message had to be tried again), the file
name carries the new date, the organiser hears how many people really get a new calendar
entry, and a seat given up or an activity cancelled sends METHOD:CANCEL for the same UID."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
from conftest import ADMIN_ID, FakeClock, texts
from sqlalchemy import select

from bot.offline.driver import BotDriver
from bot.offline.standin import ApiCall, Fault
from core import callbacks
from storage.activities import ActivitySpec, get_activity, upsert_activities
from storage.models import OutboxMessage
from storage.outbox import OutboxKind
from storage.registrations import SignupDetails, register
from storage.users import set_flags, touch_user
from storage.vocabulary import Role

ZONE = ZoneInfo("Europe/Amsterdam")
PARENT, BLOCKED, WAITER = 3001, 3002, 3003
SLUG = "dialoog-2027-03-16"  # as a slug made in the chat: it carries the first date


def seed(driver: BotDriver, clock: FakeClock, people: dict[int, bool]) -> int:
    """A dialogue on Tuesday 16 March 2027, 14:00-16:00, with two seats; `people` sign up in
    order (True: also on the waiting list when full)."""
    services = driver.services
    with services.db.session() as session:
        upsert_activities(
            session,
            (
                ActivitySpec.model_validate(
                    {
                        "slug": SLUG,
                        "kind": "dialoog",
                        "title": {"nl": "Dialoog thuis en school", "en": "Dialogue"},
                        "starts_at": datetime(2027, 3, 16, 13, 0, tzinfo=UTC),
                        "ends_at": datetime(2027, 3, 16, 15, 0, tzinfo=UTC),
                        "location": "Arnhem",
                        "capacity": 2,
                        "reminders": [],
                    }
                ),
            ),
            ZONE,
            clock(),
        )
        activity = get_activity(session, SLUG)
        assert activity is not None
        for user, wait in people.items():
            touch_user(session, user, clock())
            details = SignupDetails(f"Deelnemer {user}", Role.OUDER, None, None, None)
            register(session, activity.id, user, details, clock(), join_waitlist=wait)
        return activity.id


def documents(calls: list[ApiCall]) -> list[tuple[str, icalendar.cal.Component, str]]:
    """(file name, event, METHOD) of each calendar file in `calls`."""
    found = []
    for call in calls:
        if call.method != "sendDocument":
            continue
        name, data = next(iter(call.files.values()))
        calendar = icalendar.Calendar.from_ical(data)
        [event] = calendar.walk("VEVENT")
        found.append((name, event, str(calendar["method"])))
    return found


def seq(event: icalendar.cal.Component) -> int:
    return int(str(event["sequence"]))


def kinds_to(driver: BotDriver, user: int) -> list[str]:
    """What the user received, in order: the start of each text, or the file's method."""
    shown = []
    for call in driver.standin.delivered(user):
        if call.method == "sendDocument":
            shown.append(f"file:{documents([call])[0][2]}")
        elif call.method == "sendMessage":
            shown.append(str(call.params.get("text", ""))[:60])
    return shown


async def open_card(driver: BotDriver, activity_id: int) -> None:
    await driver.say(ADMIN_ID, "/activiteiten")
    await driver.press_data(ADMIN_ID, callbacks.ORG_SHOW.data(activity=activity_id))


async def test_moved_message_comes_before_its_file_even_when_retried(
    driver: BotDriver, clock: FakeClock
) -> None:
    activity_id = seed(driver, clock, {PARENT: False, BLOCKED: False, WAITER: True})
    await driver.deliver_owed()
    [(_, first, _)] = documents(driver.standin.delivered(PARENT))
    with driver.services.db.session() as session:
        set_flags(session, BLOCKED, blocked=True)
    before = len(driver.standin.delivered(PARENT))
    clock.advance(timedelta(hours=1))
    # Telegram fails the move's message to the parent once: it is tried again later.
    driver.standin.inject(Fault.server_error(method="sendMessage", chat_id=PARENT, times=1))

    await open_card(driver, activity_id)
    await driver.press(ADMIN_ID, "Verplaatsen")
    calls = await driver.say(ADMIN_ID, "23 maart 14:00")
    told = texts(calls)[0]
    # Parent and waiting list are told (the one who blocked the bot is not); only the
    # parent has a seat and gets a calendar file.
    assert "2 mensen krijgen bericht" in told, told
    assert "1 persoon (met een plek) een nieuwe agenda-afspraak" in told, told

    await driver.deliver_owed()
    assert not documents(driver.standin.delivered(PARENT)[before:])  # the message first
    clock.advance(timedelta(minutes=1))
    await driver.deliver_owed()
    after = driver.standin.delivered(PARENT)[before:]
    assert [c.method for c in after] == ["sendMessage", "sendDocument"]
    assert "verplaatst" in str(after[0].params["text"])
    [(name, event, method)] = documents(after)
    assert name == "mao-dialoog-2027-03-23.ics" and method == "PUBLISH"
    assert event.decoded("dtstart").astimezone(ZONE).day == 23
    assert str(event["uid"]) == str(first["uid"])
    assert seq(event) > seq(first)
    # The waiting list hears of it, without a file.
    assert kinds_to(driver, WAITER)[-1].startswith("📅 Deze activiteit is <b>verplaatst")
    assert not documents(driver.standin.delivered(WAITER))


async def test_cancelling_a_seat_takes_the_event_out_and_signing_up_again_puts_it_back(
    driver: BotDriver, clock: FakeClock
) -> None:
    activity_id = seed(driver, clock, {PARENT: False})
    await driver.deliver_owed()
    [(_, first, _)] = documents(driver.standin.delivered(PARENT))
    clock.advance(timedelta(hours=1))

    await driver.say(PARENT, "/mijnaanmeldingen")
    await driver.press(PARENT, "Afmelden")
    calls = await driver.press(PARENT, "Ja, afmelden")
    assert "Je bent afgemeld" in texts(calls)[0]
    [(name, cancel, method)] = documents(calls)
    assert method == "CANCEL" and name == "mao-dialoog-2027-03-16-cancel.ics"
    assert str(cancel["status"]) == "CANCELLED"
    assert str(cancel["uid"]) == str(first["uid"])
    assert seq(cancel) > seq(first)

    # Signed up again: the same UID comes back, above the cancellation.
    clock.advance(timedelta(minutes=5))
    with driver.services.db.session() as session:
        details = SignupDetails("Anna", Role.OUDER, None, None, None)
        register(session, activity_id, PARENT, details, clock(), join_waitlist=False)
    calls = await driver.deliver_owed()
    [(_, again, method)] = documents([c for c in calls if c.chat_id == PARENT])
    assert method == "PUBLISH" and str(again["uid"]) == str(first["uid"])
    assert seq(again) > seq(cancel)


async def test_cancelled_activity_leaves_the_calendars_of_seat_holders(
    driver: BotDriver, clock: FakeClock
) -> None:
    activity_id = seed(driver, clock, {PARENT: False, BLOCKED: False, WAITER: True})
    await driver.deliver_owed()
    [(_, first, _)] = documents(driver.standin.delivered(PARENT))
    clock.advance(timedelta(hours=1))

    await open_card(driver, activity_id)
    await driver.press(ADMIN_ID, "Afgelasten")
    await driver.press(ADMIN_ID, "Ja, afgelasten")
    await driver.deliver_owed()
    received = kinds_to(driver, PARENT)
    assert received[-2].startswith("😔 Helaas: deze activiteit gaat <b>niet door")
    assert received[-1] == "file:CANCEL"
    [*_, (_, cancel, _)] = documents(driver.standin.delivered(PARENT))
    assert str(cancel["uid"]) == str(first["uid"]) and str(cancel["status"]) == "CANCELLED"
    assert seq(cancel) > seq(first)
    # Nobody on the waiting list had the event: the message alone.
    assert kinds_to(driver, WAITER)[-1].startswith("😔 Helaas")
    assert not documents(driver.standin.delivered(WAITER))
    with driver.services.db.session() as session:
        owed = session.scalars(
            select(OutboxMessage.user_id).where(
                OutboxMessage.kind == OutboxKind.CALENDAR_CANCEL.value
            )
        ).all()
    assert sorted(owed) == [PARENT, BLOCKED]
