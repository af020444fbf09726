"""Every message the bot owes arrives, with Telegram and the network misbehaving.

One test per situation measured in the fault-injection run (issue "one delivery outbox"):
the Bot API stand-in answers 500s, resets connections, times out (delivered or not) and
throws 429 storms, per method and per chat. Each test asserts expected / delivered /
duplicated from what the stand-in really delivered.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import ADMIN_ID, FakeClock, texts
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from bot.config import AppConfig
from bot.offline.driver import BotDriver
from bot.offline.standin import Fault
from bot.services import build_services
from handlers.broadcast_owed import BroadcastReports
from jobs.outbox import outbox_of
from storage.activities import ActivitySpec, get_activity, read_activity_file, upsert_activities
from storage.broadcasts import create_broadcast
from storage.db import Database
from storage.models import OutboxMessage, Registration
from storage.outbox import BACKOFF_MAX, OutboxKind, broadcast_tally
from storage.registrations import SignupDetails, register
from storage.users import touch_user
from storage.vocabulary import Recipients, Role, Status

TEST_ACTIVITIES = Path(__file__).resolve().parent / "data" / "activities-test.yaml"
PARENT, PRO, THIRD = 2001, 2002, 2003
PERSON = SignupDetails("Anna", Role.OUDER, None, None, None)


@pytest.fixture
def config(config: AppConfig, request: pytest.FixtureRequest) -> AppConfig:
    activities = config.activities.model_copy(update={"file": TEST_ACTIVITIES})
    # Telegram's real gap per chat: a 429 is judged the chat's own or the bot's by it.
    broadcast = config.broadcast.model_copy(
        update={"messages_per_second": 1000.0, "chat_gap": timedelta(seconds=1.1)}
    )
    # Only the tests about lost replies wait for a timeout, so only they get a short one: a
    # reply the busy CI machine was slow to give is no lost reply (it was reported as one).
    marker = request.node.get_closest_marker("read_timeout")
    read_timeout = float(marker.args[0]) if marker else 10.0
    telegram = config.telegram.model_copy(update={"read_timeout": read_timeout})
    return config.model_copy(
        update={"activities": activities, "broadcast": broadcast, "telegram": telegram}
    )


@pytest.fixture
async def driver(
    config: AppConfig, clock: FakeClock, migrated_db_url: str
) -> AsyncIterator[BotDriver]:
    # config's database, with the migrations already applied (a copy of the template)
    async with BotDriver(lambda: build_services(config, clock)) as bot_driver:
        yield bot_driver


def open_messages(driver: BotDriver) -> int:
    """Owed messages still to be sent (reminders for later do not count)."""
    now = driver.services.now()
    with driver.services.db.session() as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    OutboxMessage.status.in_(("pending", "sending")),
                    OutboxMessage.due_at <= now + BACKOFF_MAX,
                )
            )
            or 0
        )


async def drain(driver: BotDriver, clock: FakeClock, rounds: int = 30) -> None:
    """Let retries fall due (the clock is injected) until nothing owed is left."""
    for _ in range(rounds):
        await driver.deliver_owed()
        if open_messages(driver) == 0:
            return
        clock.advance(BACKOFF_MAX + timedelta(seconds=1))
    raise AssertionError(f"{open_messages(driver)} owed messages left")


def delivered(driver: BotDriver, chat_id: int, containing: str) -> int:
    return sum(containing in text for text in driver.standin.delivered_texts(chat_id))


def documents_to(driver: BotDriver, chat_id: int) -> int:
    return sum(c.method == "sendDocument" for c in driver.standin.delivered(chat_id))


async def sign_up(
    driver: BotDriver, user: int, slug: str = "kleine-dialoog", *, waitlist: bool = False
) -> None:
    await driver.say(user, f"/start signup_{slug}")
    if waitlist:
        await driver.press(user, "Ja, op de wachtlijst")
    await driver.press(user, "Ouder")
    await driver.say(user, "Anna de Vries")
    await driver.press(user, "Overslaan")
    await driver.press(user, "Geen vraag")
    await driver.press(user, "akkoord")


@pytest.mark.parametrize(
    "fault", [Fault.server_error(status=500), Fault.reset()], ids=["500", "reset"]
)
async def test_confirmation_that_fails_arrives_later_and_the_seat_is_kept(
    driver: BotDriver, clock: FakeClock, fault: Fault
) -> None:
    await sign_up(driver, PARENT)
    driver.standin.inject(
        dataclasses.replace(fault, method="sendMessage", chat_id=PARENT, times=1)
    )
    calls = await driver.press(PARENT, "Bevestigen")
    assert not any("Oeps" in t for t in texts(calls))
    with driver.services.db.session() as session:
        assert session.scalars(select(Registration.status)).all() == ["registered"]
    # The conversation has ended: free text is a question again, /annuleer knows the seat.
    calls = await driver.say(PARENT, "wat is een fieldlab")
    assert not any("knoppen hierboven" in t for t in texts(calls))
    calls = await driver.say(PARENT, "/annuleer")
    assert not any("niets bewaard" in t for t in texts(calls))
    await drain(driver, clock)
    assert delivered(driver, PARENT, "Je bent aangemeld") == 1
    assert documents_to(driver, PARENT) == 1


async def test_cancelling_mid_flow_after_a_seat_was_saved_says_so(driver: BotDriver) -> None:
    await sign_up(driver, PARENT)
    draft = driver.application.user_data[PARENT]["signup"]  # type: ignore[union-attr]
    with driver.services.db.session() as session:
        register(
            session,
            draft["activity_id"],
            PARENT,
            PERSON,
            driver.services.now(),
            join_waitlist=False,
        )
    calls = await driver.say(PARENT, "/annuleer")
    assert "blijft staan" in texts(calls)[0]


@pytest.mark.parametrize(
    "fault",
    [Fault.server_error(status=502), Fault.reset(), Fault.storm(retry_after=1, times=6)],
    ids=["500", "reset", "six-429s"],
)
@pytest.mark.slow
async def test_promotion_notice_survives_errors(
    driver: BotDriver, clock: FakeClock, fault: Fault
) -> None:
    with driver.services.db.session() as session:
        activity = get_activity(session, "kleine-dialoog")
        assert activity is not None
        for user in (PARENT, PRO, THIRD):
            touch_user(session, user, clock())
            register(session, activity.id, user, PERSON, clock(), join_waitlist=True)
    await drain(driver, clock)
    driver.standin.inject(dataclasses.replace(fault, chat_id=THIRD))
    await driver.say(PARENT, "/mijnaanmeldingen")
    await driver.press(PARENT, "Afmelden")
    await driver.press(PARENT, "Ja, afmelden")
    await drain(driver, clock)
    assert delivered(driver, THIRD, "Goed nieuws") == 1
    assert documents_to(driver, THIRD) == 1


async def test_seat_offer_survives_a_500(driver: BotDriver, clock: FakeClock) -> None:
    with driver.services.db.session() as session:
        activity = get_activity(session, "fieldlab-aanbod")
        assert activity is not None
        for user in (PARENT, PRO):
            touch_user(session, user, clock())
            register(session, activity.id, user, PERSON, clock(), join_waitlist=True)
    await drain(driver, clock)
    driver.standin.inject(Fault.server_error(status=500, chat_id=PRO, times=2))
    await driver.say(PARENT, "/mijnaanmeldingen")
    await driver.press(PARENT, "Afmelden")
    await driver.press(PARENT, "Ja, afmelden")
    await drain(driver, clock)
    assert delivered(driver, PRO, "Claim hem") == 1


@pytest.mark.parametrize(
    "fault",
    [
        Fault.server_error(status=500, times=2),
        Fault.reset(times=2),
        pytest.param(
            Fault.timeout(delivered=True, seconds=2.0), marks=pytest.mark.read_timeout(0.5)
        ),
        Fault.storm(retry_after=1, times=6),
    ],
    ids=["500", "reset", "lost-reply", "429-storm"],
)
@pytest.mark.slow
async def test_reminder_survives_errors(driver: BotDriver, clock: FakeClock, fault: Fault) -> None:
    await sign_up(driver, PARENT)
    await driver.press(PARENT, "Bevestigen")
    await drain(driver, clock)
    driver.standin.inject(dataclasses.replace(fault, chat_id=PARENT))
    with driver.services.db.session() as session:
        activity = get_activity(session, "kleine-dialoog")
        assert activity is not None
    clock.moment = activity.starts_at - timedelta(days=2)
    await drain(driver, clock)
    assert delivered(driver, PARENT, "Herinnering") == 1


async def test_a_reminder_in_flight_at_a_crash_is_sent_after_the_lease(
    driver: BotDriver, clock: FakeClock
) -> None:
    await sign_up(driver, PARENT)
    await driver.press(PARENT, "Bevestigen")
    await drain(driver, clock)
    with driver.services.db.session() as session:
        reminder = session.scalars(
            select(OutboxMessage).where(OutboxMessage.kind == "reminder").limit(1)
        ).one()
        # A sender claimed it and was killed before Telegram answered.
        reminder.status, reminder.sender = "sending", "killed"
        # Leases run on the database's clock: this one ran out a second ago.
        reminder.lease_until = datetime.now(UTC) - timedelta(seconds=1)
        due = reminder.due_at
    clock.moment = due + timedelta(minutes=1)
    await drain(driver, clock)
    assert delivered(driver, PARENT, "Herinnering") == 1


async def forty_attendees(driver: BotDriver, clock: FakeClock) -> int:
    spec = ActivitySpec.model_validate(
        {
            "slug": "groot",
            "kind": "dialoog",
            "title": {"nl": "Grote dialoog", "en": "Big dialogue"},
            "starts_at": clock() + timedelta(days=30),
            "ends_at": clock() + timedelta(days=30, hours=2),
            "location": "Utrecht",
        }
    )
    with driver.services.db.session() as session:
        upsert_activities(session, (spec,), driver.services.config.zone, clock())
        activity = get_activity(session, "groot")
        assert activity is not None
        for user in range(5000, 5040):
            touch_user(session, user, clock())
            register(session, activity.id, user, PERSON, clock(), join_waitlist=True)
    await drain(driver, clock)
    return activity.id


def cancel_groot(db: Database, zone: ZoneInfo, clock: FakeClock) -> None:
    spec = ActivitySpec.model_validate(
        {
            "slug": "groot",
            "kind": "dialoog",
            "title": {"nl": "Grote dialoog", "en": "Big dialogue"},
            "starts_at": clock() + timedelta(days=30),
            "ends_at": clock() + timedelta(days=30, hours=2),
            "location": "Utrecht",
            "status": "cancelled",
        }
    )
    with db.session() as session:
        upsert_activities(session, (spec,), zone, clock())


def cancellations(driver: BotDriver) -> Counter[int]:
    return Counter(
        c.chat_id or 0
        for c in driver.standin.delivered()
        if "niet door" in str(c.params.get("text", ""))
    )


@pytest.mark.slow
async def test_cancellation_notices_after_a_kill_reach_everyone(
    config: AppConfig, clock: FakeClock
) -> None:
    async with BotDriver(lambda: build_services(config, clock)) as driver:
        await forty_attendees(driver, clock)
        await driver.stop_bot()
        # Meanwhile: the organiser cancels; 15 notices went out, the 16th was in flight
        # when the bot was killed.
        db = Database(config.storage.url)
        cancel_groot(db, config.zone, clock)
        with db.session() as session:
            owed = session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.kind == "activity_cancelled")
                .order_by(OutboxMessage.id)
            ).all()
            for message in owed[:15]:
                message.status = "sent"
            owed[15].status = "sending"
            owed[15].lease_until = datetime.now(UTC) - timedelta(seconds=1)
        db.dispose()
        await driver.start_bot()
        await drain(driver, clock)
        got = cancellations(driver)
    assert set(got) == set(range(5015, 5040))
    assert set(got.values()) == {1}


@pytest.mark.slow
async def test_cancellation_notices_survive_a_database_outage(
    driver: BotDriver, clock: FakeClock
) -> None:
    await forty_attendees(driver, clock)
    database = driver.services.db
    real_session = database.session
    outage = {"on": False}

    def flaky_session():  # type: ignore[no-untyped-def]
        if outage["on"]:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return real_session()

    cancel_groot(database, driver.services.config.zone, clock)

    async def cut_after_fifteen() -> None:
        while len(cancellations(driver)) < 15:  # noqa: ASYNC110 - the stand-in has no event
            await asyncio.sleep(0.005)
        outage["on"] = True
        await asyncio.sleep(1.5)
        outage["on"] = False

    database.session = flaky_session  # type: ignore[method-assign]
    cutter = asyncio.create_task(cut_after_fifteen())
    try:
        for _ in range(200):
            try:
                await driver.deliver_owed()
            except OperationalError:
                await asyncio.sleep(0.1)
                continue
            if cutter.done() and open_messages(driver) == 0:
                break
            clock.advance(timedelta(minutes=2))
    finally:
        database.session = real_session  # type: ignore[method-assign]
        await cutter
    got = cancellations(driver)
    assert set(got) == set(range(5000, 5040))
    assert sum(got.values()) - 40 <= 1  # at most the one in flight when the database went


async def test_broadcast_with_every_tenth_call_failing_reaches_all_100(
    driver: BotDriver, clock: FakeClock
) -> None:
    with driver.services.db.session() as session:
        for user in range(6000, 6100):
            touch_user(session, user, clock())
        broadcast_id = create_broadcast(
            session, ADMIN_ID, Recipients.EVERYONE, None, "Nieuws voor 100", clock()
        )
    driver.standin.inject(Fault.server_error(status=500, every=10))
    await drain(driver, clock)
    got = Counter(
        c.chat_id for c in driver.standin.delivered() if c.params.get("text") == "Nieuws voor 100"
    )
    assert set(got) == set(range(6000, 6100))
    assert set(got.values()) == {1}
    with driver.services.db.session() as session:
        result = broadcast_tally(session, broadcast_id)
    assert (result.sent, result.failed) == (100, 0)


@pytest.mark.read_timeout(0.5)
async def test_timeouts_that_delivered_are_reported_unconfirmed_not_failed(
    driver: BotDriver, clock: FakeClock
) -> None:
    with driver.services.db.session() as session:
        for user in range(7000, 7020):
            touch_user(session, user, clock())
        broadcast_id = create_broadcast(
            session, ADMIN_ID, Recipients.EVERYONE, None, "Nieuws", clock()
        )
    driver.standin.inject(Fault.timeout(delivered=True, seconds=2.0, times=5))
    await drain(driver, clock)
    with driver.services.db.session() as session:
        result = broadcast_tally(session, broadcast_id)
    assert (result.sent, result.unconfirmed, result.failed) == (15, 5, 0)
    got = Counter(
        c.chat_id for c in driver.standin.delivered() if c.params.get("text") == "Nieuws"
    )
    assert set(got.values()) == {1} and len(got) == 20  # nothing sent twice


@pytest.mark.slow
async def test_moving_an_activity_tells_each_attendee_once_and_moves_the_reminders(
    driver: BotDriver, clock: FakeClock
) -> None:
    await sign_up(driver, PARENT)
    await driver.press(PARENT, "Bevestigen")
    await sign_up(driver, PRO)
    await driver.press(PRO, "Bevestigen")
    await sign_up(driver, THIRD, waitlist=True)
    await driver.press(THIRD, "Bevestigen")
    await drain(driver, clock)
    original = next(
        spec
        for spec in read_activity_file(TEST_ACTIVITIES).activities
        if spec.slug == "kleine-dialoog"
    )
    later = original.starts_at + timedelta(days=1, hours=2)
    moved = original.model_copy(update={"starts_at": later, "ends_at": later + timedelta(hours=2)})
    zone = driver.services.config.zone
    with driver.services.db.session() as session:
        upsert_activities(session, (moved,), zone, clock())
        upsert_activities(session, (moved,), zone, clock())  # loading twice changes nothing
    await drain(driver, clock)
    for person in (PARENT, PRO, THIRD):
        assert delivered(driver, person, "verplaatst") == 1
    assert (documents_to(driver, PARENT), documents_to(driver, THIRD)) == (2, 0)
    # The reminder 2 days before the old time is not sent; the one for the new time is.
    new_start = later.replace(tzinfo=zone)
    clock.moment = new_start - timedelta(days=2, hours=12)
    await drain(driver, clock)
    assert delivered(driver, PARENT, "Herinnering") == 0
    clock.moment = new_start - timedelta(days=2) + timedelta(minutes=1)
    await drain(driver, clock)
    assert delivered(driver, PARENT, "Herinnering") == 1
    clock.moment = new_start - timedelta(hours=2) + timedelta(minutes=1)
    await drain(driver, clock)
    assert delivered(driver, PARENT, "Herinnering") == 2
    assert delivered(driver, THIRD, "Herinnering") == 0


@pytest.mark.slow
async def test_a_cancelled_activity_leaves_my_registrations(
    driver: BotDriver, clock: FakeClock
) -> None:
    await sign_up(driver, PARENT)
    await driver.press(PARENT, "Bevestigen")
    original = next(
        spec
        for spec in read_activity_file(TEST_ACTIVITIES).activities
        if spec.slug == "kleine-dialoog"
    )
    cancelled = original.model_copy(update={"status": Status.CANCELLED})
    zone = driver.services.config.zone
    with driver.services.db.session() as session:
        upsert_activities(session, (cancelled,), zone, clock())
    await drain(driver, clock)
    calls = await driver.say(PARENT, "/mijnaanmeldingen")
    assert "geen aanmeldingen" in texts(calls)[0]
    # Back on: people are told, and must sign up again (no seat silently restored).
    with driver.services.db.session() as session:
        upsert_activities(session, (original,), zone, clock())
    await drain(driver, clock)
    assert delivered(driver, PARENT, "toch door") == 1
    with driver.services.db.session() as session:
        assert session.scalars(select(Registration.status)).all() == ["cancelled"]


async def test_a_failing_follow_up_never_turns_a_saved_cancel_into_an_error(
    driver: BotDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sign_up(driver, PARENT)
    await driver.press(PARENT, "Bevestigen")
    sender = outbox_of(driver.application)  # type: ignore[arg-type]

    async def broken(user_id: int | None = None) -> int:
        raise OperationalError("UPDATE outbox", {}, Exception("database is locked"))

    monkeypatch.setattr(sender, "deliver_due", broken)
    await driver.say(PARENT, "/mijnaanmeldingen")
    await driver.press(PARENT, "Afmelden")
    calls = await driver.press(PARENT, "Ja, afmelden")
    assert any("afgemeld" in t for t in texts(calls))
    assert not any("Oeps" in t for t in texts(calls))
    with driver.services.db.session() as session:
        assert session.scalars(select(Registration.status)).all() == ["cancelled"]


async def test_the_report_offers_to_send_again_to_the_failed_ones(
    driver: BotDriver, clock: FakeClock
) -> None:
    await driver.say(ADMIN_ID, "/start")
    with driver.services.db.session() as session:
        for user in (8001, 8002):
            touch_user(session, user, clock())
    driver.standin.blocked_chats.add(8002)
    await driver.say(ADMIN_ID, "/omroep")
    await driver.press(ADMIN_ID, "Iedereen")
    await driver.say(ADMIN_ID, "Hallo")
    await driver.press(ADMIN_ID, "Overslaan")  # no English version
    driver.standin.inject(Fault.server_error(status=500, chat_id=8001, every=1))
    await driver.press(ADMIN_ID, "Versturen")
    for _ in range(100):  # retried with backoff until the two-day deadline
        await driver.deliver_owed()
        clock.advance(timedelta(hours=1))
        report = driver.latest_message_with_buttons(ADMIN_ID)
        if report is not None and "klaar" in str(report.get("text")):
            break
    assert report is not None
    assert "geblokkeerd: 1, mislukt: 1" in report["text"]
    # A progress count still on its way when the broadcast finished (the background round
    # and the final report race) must not replace the report and its button.
    sender = outbox_of(driver.application)  # type: ignore[arg-type]
    with driver.services.db.session() as session:
        [broadcast_id] = session.scalars(select(OutboxMessage.broadcast_id).distinct()).all()
        assert broadcast_id is not None
        late = broadcast_tally(session, broadcast_id)
    reports = sender.follow_ups[OutboxKind.BROADCAST]
    assert isinstance(reports, BroadcastReports)
    await reports.show(broadcast_id, late, finished=False)
    report = driver.latest_message_with_buttons(ADMIN_ID)
    assert report is not None and "klaar" in str(report.get("text"))
    driver.standin.clear_faults()
    calls = await driver.press(ADMIN_ID, "Opnieuw naar mislukte")
    assert "1 ontvanger" in texts(calls)[0]
    await drain(driver, clock)
    assert delivered(driver, 8001, "Hallo") == 1
