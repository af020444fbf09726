"""Engine, sessions and migrations."""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
READ_ONLY = "mao_read_only"
# Taken around `alembic upgrade` on PostgreSQL, so that instances starting at once migrate
# one after the other (the later ones then find nothing left to do). Any fixed number.
MIGRATION_LOCK_KEY = 0x4D414F00  # "MAO\0"


def safe_url(url: str) -> str:
    """The URL with any password masked, fit for logs and messages."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"timeout": 30, "check_same_thread": False},
        hide_parameters=True,  # see Database
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, open transactions (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # With WAL, NORMAL loses nothing on an application crash (only on power loss) and
        # makes each commit much cheaper: broadcasts commit once per message.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Deleted rows are overwritten with zeros rather than left in free pages, so what
        # /vergeetmij deletes cannot be read back from the file (SQLite's default is off).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front, so a check-then-write (the last seat of
        # an activity) can never interleave with another writer. WAL keeps readers unblocked.
        # Read-only sessions (Database.reading) begin DEFERRED: they never wait for a writer.
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Database:
    """Engines hide SQL parameters: they are names, e-mail addresses and questions, and a
    database error (logged with its traceback) would otherwise quote them."""

    def __init__(self, url: str) -> None:
        self.url = url
        if make_url(url).get_backend_name() == "sqlite":
            self.engine = _sqlite_engine(url)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, hide_parameters=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._reads = sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads only: on SQLite it does not take the write lock (a per-update
        look-up must not queue behind every writer). Nothing written in it is kept."""
        with self._reads() as session:
            try:
                yield session
            finally:
                session.rollback()

    def ping(self) -> None:
        """Raises when the database cannot be reached (for /healthz)."""
        with self.reading() as session:
            session.execute(text("SELECT 1"))

    def upgrade(self, revision: str = "head") -> None:
        """Apply migrations; safe when several instances start at once: they take turns.

        PostgreSQL: an advisory lock held by the migration's own transaction (DDL is
        transactional there, so the next instance sees all or nothing). SQLite: the write
        lock of that transaction (BEGIN IMMEDIATE), and a lock file beside the database so
        a long migration does not run into the other process's busy timeout."""
        logger.info("Applying database migrations on %s", safe_url(self.url))
        alembic_config = AlembicConfig()
        alembic_config.set_main_option("script_location", str(MIGRATIONS))
        with self._migration_file_lock(), self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
            alembic_config.attributes["connection"] = connection
            command.upgrade(alembic_config, revision)

    @contextmanager
    def _migration_file_lock(self) -> Iterator[None]:
        parsed = make_url(self.url)
        database = parsed.database or ""
        lock = None
        if parsed.get_backend_name() == "sqlite" and database and database != ":memory:":
            try:
                lock = open(f"{database}.migrate-lock", "a")  # noqa: SIM115 (closed below)
            except OSError:
                # A read-only directory or a URI filename: BEGIN IMMEDIATE alone serialises.
                lock = None
        if lock is None:
            yield
            return
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def checkpoint(self) -> None:
        """After an erasure: SQLite's write-ahead log (the `-wal` file beside the database)
        still holds the pages as they were before; copy them into the database and empty the
        log (TRUNCATE). Nothing to do on PostgreSQL (see README, Privacy: VACUUM)."""
        if self.dialect != "sqlite":
            return
        # The driver's own connection, in autocommit (_sqlite_engine): a checkpoint cannot run
        # inside the transaction SQLAlchemy would begin.
        connection = self.engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            row = cursor.fetchone()
            busy = row[0] if row else 0
            cursor.close()
        finally:
            connection.close()
        if busy:
            # A reader held an older snapshot: the log is emptied at a later checkpoint.
            logger.info("WAL checkpoint after erasure postponed: the database was busy")

    def check_writable(self) -> None:
        """Fail at start, not at the first sign-up, when the database cannot be written
        (a read-only file or replica): a harmless write that changes nothing."""
        with self.session() as session:
            session.execute(text("UPDATE alembic_version SET version_num = version_num"))

    def dispose(self) -> None:
        self.engine.dispose()
