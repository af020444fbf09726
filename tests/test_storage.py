"""Storage against real databases: migrations match the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from storage.db import MIGRATIONS, Database, safe_url, sqlite_file
from storage.faq_additions import add_addition
from storage.faq_misses import purge_misses, recent_misses, record_miss
from storage.inbox import ThreadKind, record_view, start_thread, thread_messages
from storage.models import Base
from storage.privacy import erase_user
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
        # Erasure's own statements: a thread with a copy in a group, an addition in the
        # person's words, the miss with the same words.
        with db.session() as session:
            thread = start_thread(
                session,
                user_id=10**12,
                first_name="Anna",
                language="nl",
                kind=ThreadKind.QUESTION,
                text="recent",
                guesses=(),
                now=NOW,
                recipients=(-100,),
            )
            [message] = thread_messages(session, thread)
            record_view(session, -100, 77, message.id, NOW)
            add_addition(session, "contact", "nl", "recent", 5, NOW, source_user_id=10**12)
        with db.session() as session:
            erased = erase_user(session, 10**12, NOW)
            assert (erased.faq_additions, erased.copies) == (1, 1)
            assert recent_misses(session) == []
        db.checkpoint()
    finally:
        db.dispose()


def test_sqlite(db_url: str) -> None:
    check_database(db_url)


@pytest.mark.postgres
def test_postgres(postgres_url: str) -> None:
    check_database(postgres_url)


def test_passwords_are_masked_in_logs() -> None:
    assert "s3cret" not in safe_url("postgresql+psycopg://mao:s3cret@db/mao")


def test_a_start_on_the_newest_schema_only_reads_its_version(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripts = ScriptDirectory(str(MIGRATIONS))
    newest = scripts.get_current_head()
    assert newest is not None
    one_before = scripts.get_revision(newest).down_revision
    assert isinstance(one_before, str)
    db = Database(db_url)
    try:
        db.upgrade(one_before)  # one migration behind: Alembic runs it
        with db.engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_heads() == (one_before,)
        db.upgrade()
        with db.engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_heads() == (newest,)

        def not_again(*_: object) -> None:
            raise AssertionError("Alembic ran on a database already at its newest schema")

        monkeypatch.setattr("storage.db.command.upgrade", not_again)
        db.upgrade()
    finally:
        db.dispose()


def test_a_uri_filename_makes_nothing_where_the_bot_was_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sqlite:///file:/path?mode=ro&uri=true` (a read-only start) made a directory "file:"
    and a lock file in it, in whatever directory the bot was started from."""
    started_in = tmp_path / "started-in"
    started_in.mkdir()
    monkeypatch.chdir(started_in)
    path = tmp_path / "data" / "mao.sqlite3"
    db = Database(f"sqlite:///file:{path}?mode=rwc&uri=true")
    try:
        db.upgrade()
    finally:
        db.dispose()
    assert list(started_in.iterdir()) == []
    assert path.exists() and Path(f"{path}.migrate-lock").exists()
    assert sqlite_file(f"sqlite:///file:{path}?mode=ro&uri=true") == path
    assert sqlite_file("sqlite:///:memory:") is None
    assert sqlite_file(f"sqlite:///{path}") == path
