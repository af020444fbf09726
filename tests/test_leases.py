"""Outbox leases are judged on the database's clock: instances whose clocks differ never take
over each other's claims (a duplicate message), and a dead sender's claims still come back."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models import OutboxMessage
from storage.outbox import OutboxKind, claim_next, owe, release_stale_claims

LEASE = timedelta(seconds=30)
MESSAGES = 20


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, migrated_db_url: str) -> Database:
    url = migrated_db_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    db = Database(url)
    db.upgrade()
    request.addfinalizer(db.dispose)
    return db


def owe_broadcast(db: Database, now: datetime) -> None:
    with db.session() as session:
        for user_id in range(1000, 1000 + MESSAGES):
            owe(session, user_id, OutboxKind.BROADCAST, now)


def claim_all(db: Database, sender: str, now: datetime, lease: timedelta = LEASE) -> list[int]:
    claimed: list[int] = []
    with db.session() as session:
        release_stale_claims(session, now)
    while True:
        with db.session() as session:
            message = claim_next(session, now, sender, lease)
        if message is None:
            return claimed
        claimed.append(message.id)


@pytest.mark.parametrize("ahead", [timedelta(seconds=40), timedelta(seconds=120)])
def test_an_instance_whose_clock_is_ahead_takes_over_no_claim(
    database: Database, ahead: timedelta
) -> None:
    now_a = datetime.now(UTC)
    owe_broadcast(database, now_a)
    # Instance A claims the whole broadcast and is still sending it.
    assert len(claim_all(database, "a", now_a)) == MESSAGES
    # Instance B, `ahead` in front of A: by its own clock every lease of A ran out.
    assert claim_all(database, "b", now_a + ahead) == []
    with database.session() as session:
        senders = session.execute(
            select(OutboxMessage.sender, func.count()).group_by(OutboxMessage.sender)
        ).all()
    assert dict(senders) == {"a": MESSAGES}


def test_a_dead_senders_claims_come_back_when_the_lease_ran_out(database: Database) -> None:
    now = datetime.now(UTC)
    owe_broadcast(database, now)
    assert len(claim_all(database, "dead", now, lease=timedelta(seconds=0.3))) == MESSAGES
    # B's clock stands still (injected): by the database's clock the lease ran out.
    time.sleep(0.4)
    assert len(claim_all(database, "b", now)) == MESSAGES
