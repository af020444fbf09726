"""Storage against real databases: migrations match the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage.db import Database, safe_url
from storage.faq_misses import purge_misses, recent_misses, record_miss
from storage.models import Base
from storage.users import get_user, set_language, touch_user

NOW = datetime(2027, 3, 1, 9, tzinfo=UTC)


def check_database(url: str) -> None:
    db = Database(url)
    try:
        db.upgrade()
        db.upgrade()  # idempotent
        with db.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        with db.session() as session:
            touch_user(session, 10**12, NOW)  # Telegram ids exceed 32 bits
            set_language(session, 10**12, "en", NOW + timedelta(minutes=1))
        with db.session() as session:
            user = get_user(session, 10**12)
        assert user is not None and user.language == "en"
        assert user.last_seen == NOW + timedelta(minutes=1)
        assert user.first_seen.tzinfo is not None
        with db.session() as session:
            record_miss(session, "x" * 5000, "nl", None, 12.3, NOW - timedelta(days=100))
            record_miss(session, "recent", "nl", "contact", 40.0, NOW)
        with db.session() as session:
            assert purge_misses(session, timedelta(days=90), NOW) == 1
            assert [m.question for m in recent_misses(session)] == ["recent"]
    finally:
        db.dispose()


def test_sqlite(db_url: str) -> None:
    check_database(db_url)


@pytest.mark.postgres
def test_postgres(postgres_url: str) -> None:
    check_database(postgres_url)


def test_passwords_are_masked_in_logs() -> None:
    assert "s3cret" not in safe_url("postgresql+psycopg://mao:s3cret@db/mao")
