"""Registration rules against a real database: capacity, waiting list, offers, races."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.activities import ActivitySpec, Localised, get_activity, upsert_activities
from storage.db import Database
from storage.models import OutboxMessage, Registration
from storage.registrations import (
    Outcome,
    SignupDetails,
    SignupResult,
    cancel_registration,
    claim_offer,
    expire_offers,
    export_registrations,
    register,
    user_registrations,
)
from storage.vocabulary import Role

ZONE = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
PARENT = SignupDetails("Anna de Vries", Role.OUDER, None, "anna@example.org", None)


def spec(
    slug: str = "test", capacity: int | None = 2, mode: str = "auto", **extra: object
) -> ActivitySpec:
    values: dict[str, object] = {
        "slug": slug,
        "kind": "dialoog",
        "title": Localised(nl="Testdialoog", en="Test dialogue"),
        "starts_at": datetime(2027, 5, 18, 14, 0),
        "ends_at": datetime(2027, 5, 18, 16, 0),
        "location": "Arnhem",
        "capacity": capacity,
        "waitlist_mode": mode,
        "offer_hours": 24,
    }
    values.update(extra)
    return ActivitySpec.model_validate(values)


def make_db(url: str) -> Database:
    db = Database(url)
    db.upgrade()
    return db


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, migrated_db_url: str) -> Iterator[Database]:
    url = migrated_db_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    database = make_db(url)
    yield database
    database.dispose()


def load(db: Database, *specs: ActivitySpec) -> int:
    with db.session() as session:
        upsert_activities(session, specs, ZONE, NOW)
        activity = get_activity(session, specs[0].slug)
        assert activity is not None
        return activity.id


def sign_up(
    db: Database, activity_id: int, user_id: int, waitlist: bool = True, at: datetime = NOW
) -> SignupResult:
    with db.session() as session:
        return register(session, activity_id, user_id, PARENT, at, join_waitlist=waitlist)


def statuses(db: Database, activity_id: int) -> dict[int, str]:
    with db.session() as session:
        rows = session.execute(
            select(Registration.user_id, Registration.status).where(
                Registration.activity_id == activity_id
            )
        ).all()
    return dict(rows)


def test_capacity_then_waiting_list_then_promotion(db: Database) -> None:
    activity_id = load(db, spec(capacity=2))
    assert sign_up(db, activity_id, 1).outcome is Outcome.REGISTERED
    assert sign_up(db, activity_id, 2).outcome is Outcome.REGISTERED
    assert sign_up(db, activity_id, 3, waitlist=False).outcome is Outcome.FULL
    third = sign_up(db, activity_id, 3, at=NOW + timedelta(minutes=1))
    assert (third.outcome, third.position) == (Outcome.WAITING, 1)
    fourth = sign_up(db, activity_id, 4, at=NOW + timedelta(minutes=2))
    assert (fourth.outcome, fourth.position) == (Outcome.WAITING, 2)

    with db.session() as session:
        first = user_registrations(session, 1, NOW)[0]
        assert cancel_registration(session, first.registration_id, 1, NOW).ok
    assert statuses(db, activity_id) == {
        1: "cancelled",
        2: "registered",
        3: "registered",
        4: "waiting",
    }
    with db.session() as session:
        # Who is owed what: every seat its confirmation and calendar file; user 3 moved up.
        assert owed(session, "promoted", "waitlisted") == [
            (3, "waitlisted"),
            (4, "waitlisted"),
            (3, "promoted"),
        ]
        assert user_registrations(session, 4, NOW)[0].position == 1
        # User 1's own reminders and messages are no longer owed.
        assert owed(session, "reminder", "confirmation", user=1) == []


def owed(session: Session, *kinds: str, user: int | None = None) -> list[tuple[int, str]]:
    """Pending owed messages of these kinds, in the order they were owed."""
    query = select(OutboxMessage.user_id, OutboxMessage.kind).where(
        OutboxMessage.status == "pending", OutboxMessage.kind.in_(kinds)
    )
    if user is not None:
        query = query.where(OutboxMessage.user_id == user)
    return [(u, k) for u, k in session.execute(query.order_by(OutboxMessage.id))]


def test_signing_up_twice_is_friendly(db: Database) -> None:
    activity_id = load(db, spec())
    sign_up(db, activity_id, 1)
    assert sign_up(db, activity_id, 1).outcome is Outcome.ALREADY_REGISTERED


def test_closed_past_cancelled_and_not_yet_open(db: Database) -> None:
    closed = load(db, spec("closed", registration_closes_at=datetime(2027, 2, 1)))
    assert sign_up(db, closed, 1).outcome is Outcome.CLOSED
    later = load(db, spec("later", registration_opens_at=datetime(2027, 4, 1)))
    assert sign_up(db, later, 1).outcome is Outcome.NOT_OPEN_YET
    past = load(
        db, spec("past", starts_at=datetime(2027, 1, 1, 10), ends_at=datetime(2027, 1, 1, 12))
    )
    assert sign_up(db, past, 1).outcome is Outcome.PAST
    gone = load(db, spec("gone", status="cancelled"))
    assert sign_up(db, gone, 1).outcome is Outcome.CANCELLED_ACTIVITY


def test_offer_mode_claim_and_expiry(db: Database) -> None:
    activity_id = load(db, spec(capacity=1, mode="offer"))
    sign_up(db, activity_id, 1)
    sign_up(db, activity_id, 2, at=NOW + timedelta(seconds=1))
    sign_up(db, activity_id, 3, at=NOW + timedelta(seconds=2))
    with db.session() as session:
        rid = user_registrations(session, 1, NOW)[0].registration_id
        cancel_registration(session, rid, 1, NOW)
    assert statuses(db, activity_id)[2] == "offered"
    # Nobody else can take the held seat meanwhile.
    assert sign_up(db, activity_id, 5, waitlist=False).outcome is Outcome.FULL
    # User 2 lets the offer lapse; user 3 gets it, and claims in time.
    with db.session() as session:
        assert expire_offers(session, NOW + timedelta(hours=23)) == []
        assert expire_offers(session, NOW + timedelta(hours=24)) == [2]
    assert statuses(db, activity_id)[3] == "offered"
    later = NOW + timedelta(hours=30)
    with db.session() as session:
        rid3 = user_registrations(session, 3, later)[0].registration_id
        assert claim_offer(session, rid3, 3, later).ok
        kinds = owed(session, "offered", "offer_expired", "confirmation")
    # User 1 gave the seat up, user 2's offer lapsed (that is owed), user 3 claimed hers.
    assert kinds == [(2, "offer_expired"), (3, "confirmation")]
    assert statuses(db, activity_id)[3] == "registered"


def test_cancel_is_only_for_your_own_registration(db: Database) -> None:
    activity_id = load(db, spec())
    result = sign_up(db, activity_id, 1)
    with db.session() as session:
        assert not cancel_registration(session, result.registration_id or 0, 2, NOW).ok
    assert statuses(db, activity_id) == {1: "registered"}


def test_export_rows(db: Database) -> None:
    activity_id = load(db, spec(capacity=1))
    sign_up(db, activity_id, 1)
    sign_up(db, activity_id, 2, at=NOW + timedelta(seconds=1))
    with db.session() as session:
        rows = export_registrations(session, "test")
    assert rows is not None
    assert [(r.name, r.status, r.position) for r in rows] == [
        ("Anna de Vries", "registered", None),
        ("Anna de Vries", "waiting", 1),
    ]


def test_upsert_is_idempotent_and_keeps_registrations(db: Database) -> None:
    activity_id = load(db, spec())
    sign_up(db, activity_id, 1)
    with db.session() as session:
        report = upsert_activities(session, (spec(),), ZONE, NOW)
        assert report.unchanged == ("test",)
        report = upsert_activities(
            session,
            (spec(starts_at=datetime(2027, 5, 19, 14), ends_at=datetime(2027, 5, 19, 16)),),
            ZONE,
            NOW,
        )
        assert report.moved == ("test",)
        upsert_activities(session, (spec("other"),), ZONE, NOW)  # "test" no longer in the file
    assert statuses(db, activity_id) == {1: "registered"}


def test_cancelling_an_activity_notifies_attendees_and_waiting(db: Database) -> None:
    activity_id = load(db, spec(capacity=1))
    sign_up(db, activity_id, 1)
    sign_up(db, activity_id, 2)
    with db.session() as session:
        report = upsert_activities(session, (spec(capacity=1, status="cancelled"),), ZONE, NOW)
        assert report.cancelled == ("test",)
        assert owed(session, "activity_cancelled") == [
            (1, "activity_cancelled"),
            (2, "activity_cancelled"),
        ]
        # Nothing else about it is sent any more: no confirmation, no reminder.
        assert owed(session, "confirmation", "reminder") == []
    assert statuses(db, activity_id) == {1: "cancelled", 2: "cancelled"}


def race_for_seats(db: Database, activity_id: int, people: int) -> list[Outcome]:
    barrier = threading.Barrier(people)
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def attempt(user_id: int) -> None:
        barrier.wait()
        result = sign_up(db, activity_id, user_id)
        with lock:
            outcomes.append(result.outcome)

    threads = [threading.Thread(target=attempt, args=(1000 + n,)) for n in range(people)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes


def assert_ten_of_fifty(db: Database) -> None:
    activity_id = load(db, spec(capacity=10))
    outcomes = race_for_seats(db, activity_id, 50)
    assert outcomes.count(Outcome.REGISTERED) == 10
    assert outcomes.count(Outcome.WAITING) == 40
    counted = statuses(db, activity_id)
    assert list(counted.values()).count("registered") == 10
    assert list(counted.values()).count("waiting") == 40


def test_fifty_concurrent_signups_for_ten_seats_sqlite(db: Database) -> None:
    assert_ten_of_fifty(db)


@pytest.mark.postgres
def test_fifty_concurrent_signups_for_ten_seats_postgres(postgres_url: str) -> None:
    db = make_db(postgres_url)
    try:
        assert_ten_of_fifty(db)
    finally:
        db.dispose()


def test_same_user_racing_themselves_gets_one_row(db: Database) -> None:
    activity_id = load(db, spec(capacity=5))
    barrier = threading.Barrier(8)

    def attempt() -> None:
        barrier.wait()
        sign_up(db, activity_id, 42)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(Registration)) == 1
        assert owed(session, "confirmation") == [(42, "confirmation")]
