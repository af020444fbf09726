"""Organisers' commands at scale (issue 20 §3): /deelnemers counts the waiting list's places
in one pass, /cijfers and /deelnemers read through the database seam (never on the event
loop), sign-ups are counted per local day as they stream by, and an announcement's rows and
its recipient count come from the database itself."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from conftest import ADMIN_ID, texts
from sqlalchemy import event, insert, select

from bot.config import AppConfig
from bot.offline.driver import BotDriver
from core.apart import IN_A_THREAD, ApartError, run_apart
from core.charts import PNG_SIGNATURE, ChartData, chart_png
from storage.activities import get_activity
from storage.broadcasts import audience_user_ids, create_broadcast, recipient_count
from storage.db import Database
from storage.models import Activity, OutboxMessage, Registration
from storage.statistics import signups_over_time, signups_per_day
from storage.users import set_flags, touch_user
from storage.vocabulary import Recipients

TEST_ACTIVITIES = Path(__file__).resolve().parent / "data" / "activities-test.yaml"
ZONE = ZoneInfo("Europe/Amsterdam")
FIRST_WAITING = 70_000


@pytest.fixture
def config(config: AppConfig) -> AppConfig:
    activities = config.activities.model_copy(update={"file": TEST_ACTIVITIES})
    return config.model_copy(update={"activities": activities})


@contextmanager
def statements(db: Database) -> Iterator[list[tuple[str, int]]]:
    """The SQL statements issued meanwhile, each with the thread that issued it."""
    seen: list[tuple[str, int]] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append((statement, threading.get_ident()))

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


def add_people(driver: BotDriver, slug: str, status: str, first: int, count: int) -> None:
    """`count` registrations with this status, queued a minute apart in the order of their
    user ids (bulk: the waiting list grows without the sign-up flow's messages). Those from
    FIRST_WAITING on are called "Wachtende 01", "Wachtende 02", ..."""
    now = driver.services.now()
    with driver.services.db.session() as session:
        activity = get_activity(session, slug)
        assert activity is not None
        session.execute(
            insert(Registration),
            [
                {
                    "activity_id": activity.id,
                    "user_id": first + n,
                    "name": f"Wachtende {first - FIRST_WAITING + n + 1:02d}",
                    "role": "ouder",
                    "status": status,
                    "registered_at": now,
                    "queued_at": now + timedelta(minutes=first - FIRST_WAITING + n),
                    "consent_at": now,
                    "updated_at": now,
                }
                for n in range(count)
            ],
        )


async def attendee_view(driver: BotDriver) -> tuple[str, list[tuple[str, int]]]:
    """The organiser's view of "Kleine dialoog", and the statements on its people it took."""
    await driver.say(ADMIN_ID, "/deelnemers")
    with statements(driver.services.db) as seen:
        calls = await driver.press(ADMIN_ID, "Kleine dialoog")
    # About this activity's people (not the outbox's rounds meanwhile).
    about_people = [(s, t) for s, t in seen if "WHERE registrations.activity_id" in s]
    return texts(calls)[0], about_people


async def test_the_waiting_list_is_counted_in_one_pass_not_once_per_person(
    driver: BotDriver,
) -> None:
    add_people(driver, "kleine-dialoog", "registered", 60_000, 2)
    add_people(driver, "kleine-dialoog", "waiting", FIRST_WAITING, 3)
    shown, few = await attendee_view(driver)
    assert "Aangemeld: 2 · Wachtlijst: 3" in shown
    add_people(driver, "kleine-dialoog", "waiting", FIRST_WAITING + 3, 12)
    shown, many = await attendee_view(driver)
    assert "Aangemeld: 2 · Wachtlijst: 15" in shown
    # Places in the order people joined, 1 = next in line.
    assert "1. Wachtende 01" in shown and "15. Wachtende 15" in shown
    assert shown.index("9. Wachtende 09") < shown.index("10. Wachtende 10")
    # As many statements for 15 waiting as for 3 (it was one count per waiting person).
    assert len(many) == len(few)


async def test_organisers_figures_are_read_off_the_event_loop(driver: BotDriver) -> None:
    add_people(driver, "kleine-dialoog", "registered", 60_000, 2)
    add_people(driver, "kleine-dialoog", "waiting", FIRST_WAITING, 2)
    loop_thread = threading.get_ident()
    _, seen = await attendee_view(driver)
    with statements(driver.services.db) as during_stats:
        shown = texts(await driver.say(ADMIN_ID, "/cijfers"))[0]
    assert "Kleine dialoog" in shown
    stats = [(s, t) for s, t in during_stats if "registrations" in s]
    assert seen and stats
    assert [s for s, t in seen + stats if t == loop_thread] == []


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_signups_are_counted_per_local_day(database: Database) -> None:
    """Per day in the organisers' zone, seats only, across a change to summer time: the same
    as converting every moment."""
    moments = [
        datetime(2027, 3, 1, 22, 30, tzinfo=UTC),  # 23:30 in Amsterdam: still 1 March
        datetime(2027, 3, 1, 23, 30, tzinfo=UTC),  # 00:30: 2 March
        datetime(2027, 3, 27, 22, 59, tzinfo=UTC),  # 23:59 (winter time): 27 March
        datetime(2027, 3, 28, 0, 30, tzinfo=UTC),  # 01:30: 28 March
        datetime(2027, 3, 28, 21, 59, tzinfo=UTC),  # 23:59 (summer time): 28 March
        datetime(2027, 3, 28, 22, 0, tzinfo=UTC),  # 00:00: 29 March
    ]
    statuses = ["registered"] * len(moments) + ["waiting", "cancelled"]
    with database.session() as session:
        activity_id = session.scalar(
            insert(Activity)
            .values(
                slug="telling",
                kind="dialoog",
                title_nl="Telling",
                title_en="Count",
                starts_at=moments[-1] + timedelta(days=30),
                ends_at=moments[-1] + timedelta(days=30, hours=2),
                status="published",
                updated_at=moments[0],
            )
            .returning(Activity.id)
        )
        assert activity_id is not None
        session.execute(
            insert(Registration),
            [
                {
                    "activity_id": activity_id,
                    "user_id": 80_000 + n,
                    "name": "X",
                    "role": "ouder",
                    "status": status,
                    "registered_at": moment,
                    "queued_at": moment,
                    "consent_at": moment,
                    "updated_at": moment,
                }
                for n, (status, moment) in enumerate(
                    zip(statuses, [*moments, *moments[:2]], strict=True)
                )
            ],
        )
    with database.session() as session:
        counted = signups_per_day(session, [activity_id, 999_999], ZONE)
        seats = signups_over_time(session, [activity_id])[activity_id]
    assert counted[activity_id] == Counter(m.astimezone(ZONE).date() for m in seats)
    assert dict(counted[activity_id]) == {
        date(2027, 3, 1): 1,
        date(2027, 3, 2): 1,
        date(2027, 3, 27): 1,
        date(2027, 3, 28): 2,
        date(2027, 3, 29): 1,
    }
    assert counted[999_999] == Counter()


@pytest.fixture
def database(request: pytest.FixtureRequest, migrated_db_url: str) -> Iterator[Database]:
    """A migrated SQLite file, or the PostgreSQL test database."""
    param = getattr(request, "param", "sqlite")
    url = str(request.getfixturevalue("postgres_url")) if param == "postgres" else migrated_db_url
    db = Database(url)
    db.upgrade()
    yield db
    db.dispose()


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
@pytest.mark.parametrize("night_allowed", [False, True])
def test_an_announcement_owes_one_row_per_recipient_in_id_order(
    database: Database, night_allowed: bool
) -> None:
    now = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    people = [7003, 7001, 7002, 7004, 7005]
    with database.session() as session:
        for person in people:
            touch_user(session, person, now)
        set_flags(session, 7004, announcements_opt_out=True)
        set_flags(session, 7005, blocked=True)
        expected = audience_user_ids(session, Recipients.EVERYONE, None)
        assert recipient_count(session, Recipients.EVERYONE, None) == len(expected) == 3
        broadcast_id = create_broadcast(
            session,
            ADMIN_ID,
            Recipients.EVERYONE,
            None,
            "Nieuws",
            now,
            night_allowed=night_allowed,
        )
    with database.session() as session:
        owed = session.execute(
            select(
                OutboxMessage.user_id,
                OutboxMessage.due_at,
                OutboxMessage.deadline,
                OutboxMessage.status,
                OutboxMessage.kind,
                OutboxMessage.payload,
            )
            .where(OutboxMessage.broadcast_id == broadcast_id)
            .order_by(OutboxMessage.id)
        ).all()
    assert [row.user_id for row in owed] == [7001, 7002, 7003]
    payload = '{"night_allowed": true}' if night_allowed else None
    assert {(r.due_at, r.deadline, r.status, r.kind, r.payload) for r in owed} == {
        (now, now + timedelta(days=2), "pending", "broadcast", payload)
    }


async def test_a_chart_is_drawn_in_a_process_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the bot does (the other tests draw in a thread): the PNG comes back from a child
    process; a failure there is an ApartError, not a hang."""
    monkeypatch.delenv(IN_A_THREAD, raising=False)
    days = [date(2027, 3, 1) + timedelta(days=n) for n in range(4)]
    data = ChartData(days, [("Dialoog", [1, 2, 4, 6])], 6, 4)
    png = await run_apart(chart_png, data, "Aanmeldingen", "Aantal")
    assert png.startswith(PNG_SIGNATURE)
    with pytest.raises(ApartError):
        await run_apart(date.fromisoformat, "geen datum")
