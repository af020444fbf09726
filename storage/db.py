"""Engine, sessions, migrations, and the one seam by which async code reaches the database.

The seam (`Database.run`, `run_session`, `run_reading`): every call from the event loop runs
on this database's own bounded thread pool and is given up after a timeout, so the loop never
waits on the database. Below it, every wait has a limit: connecting, a pool checkout, a
statement, a lock, SQLite's busy wait; and a watchdog cuts the socket of a PostgreSQL
connection whose server stopped answering (a network blackhole: no error ever arrives), so
that its thread comes back. While the database is away (`Health`), synchronous sessions
opened on the event loop fail at once instead of hanging it, and so does a call that a person
waits on (`refuse_while_away`, `fail_fast=True`): they hear "not now" at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fcntl
import functools
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, exc, make_url, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

logger = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _alembic_config() -> AlembicConfig:
    alembic_config = AlembicConfig()
    alembic_config.set_main_option("script_location", str(MIGRATIONS))
    return alembic_config


@functools.cache
def _migration_heads() -> frozenset[str]:
    """The newest revision(s) of the migrations shipped with this code (they do not change
    while it runs)."""
    return frozenset(ScriptDirectory.from_config(_alembic_config()).get_heads())


READ_ONLY = "mao_read_only"
# Taken around `alembic upgrade` on PostgreSQL, so that instances starting at once migrate
# one after the other (the later ones then find nothing left to do). Any fixed number.
MIGRATION_LOCK_KEY = 0x4D414F00  # "MAO\0"
T = TypeVar("T")
# An organiser's report read over many rows (/cijfers, /deelnemers, an audience's count at
# 100,000 users): seconds on a busy machine, more than a call's usual limit. Given up, it
# says nothing about the database being away.
REPORT_SECONDS = 30.0


@dataclass(frozen=True)
class DbTimeouts:
    """Seconds. Each wait on the database ends; the defaults are a few seconds, so that a
    user who must be told "not now" hears it within 5 s."""

    connect: float = 3.0  # opening a connection (PostgreSQL)
    pool: float = 3.0  # waiting for a free connection of the pool
    statement: float = 4.0  # one statement (PostgreSQL statement_timeout)
    lock: float = 2.0  # waiting for a row or table lock (PostgreSQL lock_timeout)
    busy: float = 3.0  # waiting for SQLite's write lock
    call: float = 3.0  # one call through the seam, queueing for a thread included
    read: float = 0.5  # a read an answer can do without (per-update state, FAQ additions)
    workers: int = 8  # threads of the seam


# Bookkeeping handed to write_later: the function and its arguments after the session.
Later = tuple[Callable[..., object], tuple[Any, ...]]


@dataclass
class _UpdateWrites:
    """The bookkeeping of the update being handled in this task, for its one write."""

    database: Database
    writes: list[Later] = field(default_factory=list)


# Per asyncio task (PTB handles each update in its own): see Database.begin_update.
_UPDATE_WRITES: ContextVar[_UpdateWrites | None] = ContextVar("update_writes", default=None)


def write_bookkeeping(session: Session, writes: Sequence[Later]) -> None:
    """Bookkeeping inside another write's transaction. Without a savepoint each (that would
    cost more than the counts): should one fail, the caller writes again without them."""
    for function, args in writes:
        function(session, *args)


# Session.info key: who this session's transaction owes messages to (storage/outbox.py, owe).
OWED_KEY = "mao_owed"
# Recipients noted one by one up to this many; beyond it only "many" (an announcement to
# everyone must not keep 95,000 ids in memory for a wake-up call).
OWED_NOTED_AT_MOST = 64


@dataclass
class Owed:
    """The recipients of the outbox rows a transaction wrote (`many`: more than were noted)."""

    recipients: set[int] = field(default_factory=set)
    many: bool = False


def note_owed(session: Session, recipients: Iterable[int], *, many: bool = False) -> None:
    """Called where outbox rows are written (or owed again): once the transaction commits,
    the hooks given to `Database.when_owed` hear of it (the sender wakes; no handler has to
    remember). `many`: rows for recipients not named (a bulk update)."""
    owed = session.info.setdefault(OWED_KEY, Owed())
    owed.many = owed.many or many
    if owed.many:
        return
    for user_id in recipients:
        if len(owed.recipients) >= OWED_NOTED_AT_MOST:
            owed.many = True
            return
        owed.recipients.add(user_id)


OwedHook = Callable[[frozenset[int], bool], None]


class DatabaseUnavailableError(Exception):
    """The database did not answer in time (or is known to be away right now)."""


def is_outage(error: BaseException) -> bool:
    """Whether an error means "the database is away" (not a bug): refused, timed out,
    locked, read-only, or the pool had no connection to give."""
    if isinstance(error, DatabaseUnavailableError | TimeoutError | exc.TimeoutError):
        return True
    return isinstance(error, exc.OperationalError | exc.InterfaceError) or (
        isinstance(error, exc.DBAPIError) and error.connection_invalidated
    )


class Health:
    """What the last calls said about the database. After a failure it counts as away for a
    moment (`hold`): calls that can do without it skip it, synchronous sessions on the event
    loop fail at once. Then the next call tries again, so recovery needs no restart.

    A read given up for its short limit makes it "slow" for a shorter moment: the other
    reads an answer can do without are skipped meanwhile, so that one update does not wait
    for several of them in turn."""

    def __init__(self, hold: float = 5.0, slow_hold: float = 1.0) -> None:
        self.hold = hold
        self.slow_hold = slow_hold
        self.reason: str | None = None
        self._away_until = 0.0
        self._slow_until = 0.0

    @property
    def away(self) -> bool:
        return time.monotonic() < self._away_until

    @property
    def skipping(self) -> bool:
        """Whether reads an answer can do without are skipped right now."""
        return self.away or time.monotonic() < self._slow_until

    def slow(self) -> None:
        self._slow_until = time.monotonic() + self.slow_hold

    def failed(self, error: BaseException) -> None:
        self.reason = _reason(error)
        self._away_until = time.monotonic() + self.hold

    def answered(self) -> None:
        self.reason = None
        self._away_until = self._slow_until = 0.0


def _reason(error: BaseException) -> str:
    """A short reason for logs and /healthz: the error's kind, never its text (which may
    quote parameters)."""
    if isinstance(error, DatabaseUnavailableError | TimeoutError):
        return "timeout"
    original = getattr(error, "orig", None)
    text_of = str(original or "").lower()
    if "readonly" in text_of or "read-only" in text_of:
        return "read-only"
    if "lock" in text_of or "canceling statement" in text_of:
        return "locked"
    if "refused" in text_of or "could not connect" in text_of or "connection" in text_of:
        return "unreachable"
    return type(original or error).__name__


class _Watchdog:
    """Cuts the socket of a PostgreSQL connection that has waited on its server longer than
    the server itself would allow (statement_timeout): a server that stopped answering
    sends no error, and the thread would otherwise wait for ever."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._busy: dict[int, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._exempt = threading.local()

    @contextmanager
    def exempt(self) -> Iterator[None]:
        """Statements of this thread may take long (a migration at start)."""
        self._exempt.on = True
        try:
            yield
        finally:
            self._exempt.on = False

    def enter(self, connection: Any) -> None:
        if getattr(self._exempt, "on", False):
            return
        with self._lock:
            self._busy[id(connection)] = (time.monotonic(), connection)
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="db-watchdog", daemon=True)
            self._thread.start()

    def leave(self, connection: Any) -> None:
        with self._lock:
            self._busy.pop(id(connection), None)

    def stop(self) -> None:
        self._stopped.set()

    def _watch(self) -> None:
        while not self._stopped.wait(0.25):
            now = time.monotonic()
            with self._lock:
                hung = [c for since, c in self._busy.values() if now - since > self.limit]
                for connection in hung:
                    self._busy.pop(id(connection), None)
            for connection in hung:
                logger.warning("Database connection cut: no answer for %.0f s", self.limit)
                _cut(connection)


def _cut(connection: Any) -> None:
    # shutdown(), not close(): the thread blocked on the socket wakes with an error, and the
    # driver still owns (and later closes) its file descriptor.
    with contextlib.suppress(Exception):
        duplicate = socket.socket(fileno=os.dup(connection.fileno()))
        with duplicate:
            duplicate.shutdown(socket.SHUT_RDWR)


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def dialect_insert(session: Session) -> Any:
    """The dialect's own INSERT (with ON CONFLICT), for upserts on SQLite and PostgreSQL."""
    return insert_for(session.get_bind().dialect.name)


def insert_for(dialect: str) -> Any:
    """dialect_insert by the dialect's name, for statements built once per dialect."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def safe_url(url: str) -> str:
    """The URL with any password masked, fit for logs and messages."""
    return make_url(url).render_as_string(hide_password=True)


def sqlite_file(url: str) -> Path | None:
    """The file an SQLite URL names (None in memory): also for a URI filename
    (`sqlite:///file:/path/mao.sqlite3?mode=ro&uri=true`), which is no path as it stands; taken
    as one, the bot made a directory named "file:" wherever it was started."""
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if str(parsed.query.get("uri", "")).lower() in ("true", "1") and database.startswith("file:"):
        path = urlsplit(database).path
        if not path or parsed.query.get("mode") == "memory":
            return None
        return Path(unquote(path))
    return Path(database)


def _sqlite_engine(url: str, timeouts: DbTimeouts) -> Engine:
    parsed = make_url(url)
    file = sqlite_file(url)
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
    in_memory = not parsed.database or parsed.database == ":memory:"
    engine = create_engine(
        url,
        connect_args={"timeout": timeouts.busy, "check_same_thread": False},
        # An in-memory database gets one connection per thread: no pool to wait for.
        **({} if in_memory else {"pool_timeout": timeouts.pool}),
        hide_parameters=True,  # see Database
    )
    busy_ms = int(timeouts.busy * 1000)

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
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        # Deleted rows are overwritten with zeros rather than left in free pages, so what
        # /vergeetmij deletes cannot be read back from the file (SQLite's default is off).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "handle_error")
    def _on_error(context: Any) -> None:
        # A connection opened while the file was read-only stays read-only for ever: treated
        # as broken, the pool opens new ones, which can write once the file can be written.
        if "readonly database" in str(context.original_exception).lower():
            context.is_disconnect = True

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


def _postgresql_engine(url: str, timeouts: DbTimeouts, watchdog: _Watchdog) -> Engine:
    options = (
        f"-c statement_timeout={int(timeouts.statement * 1000)}"
        f" -c lock_timeout={int(timeouts.lock * 1000)}"
    )
    engine = create_engine(
        url,
        connect_args={
            "connect_timeout": max(1, math.ceil(timeouts.connect)),
            "options": options,
            # A real blackhole (packets dropped) is noticed by the kernel: unacknowledged
            # data for this long ends the connection.
            "tcp_user_timeout": int((timeouts.statement + timeouts.connect) * 1000),
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 3,
            "keepalives_count": 3,
        },
        pool_timeout=timeouts.pool,
        hide_parameters=True,  # see Database
    )

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        # SQLAlchemy's pool_pre_ping, but watched: a ping to a server that stopped
        # answering is cut like any statement, and the pool then connects anew.
        watchdog.enter(dbapi_connection)
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception as error:
            raise exc.DisconnectionError() from error
        finally:
            watchdog.leave(dbapi_connection)

    def enter(connection: Any, *_args: Any) -> None:
        watchdog.enter(connection.connection.dbapi_connection)

    def leave(connection: Any, *_args: Any) -> None:
        watchdog.leave(connection.connection.dbapi_connection)

    event.listen(engine, "before_cursor_execute", enter)
    event.listen(engine, "after_cursor_execute", leave)
    event.listen(engine, "commit", enter)
    event.listen(engine, "rollback", enter)

    @event.listens_for(engine, "handle_error")
    def _on_error(context: Any) -> None:
        if context.connection is not None and context.connection.connection is not None:
            with contextlib.suppress(Exception):
                watchdog.leave(context.connection.connection.dbapi_connection)

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None:
            watchdog.leave(dbapi_connection)

    @event.listens_for(engine, "reset")
    def _on_reset(dbapi_connection: Any, _record: Any, _state: Any) -> None:
        watchdog.enter(dbapi_connection)

    return engine


class Database:
    """Engines hide SQL parameters: they are names, e-mail addresses and questions, and a
    database error (logged with its traceback) would otherwise quote them."""

    def __init__(self, url: str, timeouts: DbTimeouts | None = None) -> None:
        self.url = url
        self.timeouts = timeouts or DbTimeouts()
        self.health = Health()
        # The server cancels a statement after `statement`: past that (and a margin) it is
        # not answering at all.
        self._watchdog = _Watchdog(self.timeouts.statement + 1.5)
        if make_url(url).get_backend_name() == "sqlite":
            self.engine = _sqlite_engine(url, self.timeouts)
        else:
            self.engine = _postgresql_engine(url, self.timeouts, self._watchdog)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._reads = sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        self._later: set[Future[None]] = set()  # write_later's, until written
        self._owed_hooks: list[OwedHook] = []
        event.listen(self._sessions, "after_commit", self._committed)
        event.listen(self._sessions, "after_rollback", self._rolled_back)

    # -- owed messages: who must hear of a commit ----------------------------------------------

    def when_owed(self, hook: OwedHook) -> Callable[[], None]:
        """`hook(recipients, many)` after each commit that wrote outbox rows, on the thread
        that committed (a thread of the seam, or the event loop); returns its removal."""
        self._owed_hooks.append(hook)
        return lambda: self._owed_hooks.remove(hook)

    def _committed(self, session: Session) -> None:
        owed = session.info.pop(OWED_KEY, None)
        if not isinstance(owed, Owed):
            return
        recipients = frozenset(owed.recipients)
        for hook in list(self._owed_hooks):
            try:
                hook(recipients, owed.many)
            except Exception:
                # The rows are committed: the sender's poll finds them all the same.
                logger.exception("A hook for owed messages failed")

    def _rolled_back(self, session: Session) -> None:
        session.info.pop(OWED_KEY, None)

    # -- the seam --------------------------------------------------------------------------------

    def _pool(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.timeouts.workers, thread_name_prefix="db"
                )
            return self._executor

    async def run(
        self,
        function: Callable[..., T],
        *args: Any,
        limit: float | None = None,
        slow_is_away: bool = True,
        fail_fast: bool = False,
    ) -> T:
        """`function(*args)` on the database's threads, given up after `limit` seconds
        (default `timeouts.call`) with DatabaseUnavailableError. A call still queued when
        given up never runs; one already running finishes (or fails) on its own, its result
        unused. `slow_is_away=False`: a call given up for a short `limit` says nothing about
        the database (it may just be busy). `fail_fast`: refused at once while the database
        is known to be away (see refuse_while_away), for a person waiting on the answer."""
        if fail_fast:
            self.refuse_while_away()
        # In the caller's context: a commit's hooks know whose update it was part of.
        future = self._pool().submit(contextvars.copy_context().run, function, *args)
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for may swallow a
            # cancellation that arrives as the call finishes (the outbox would never stop).
            async with asyncio.timeout(limit if limit is not None else self.timeouts.call):
                result = await asyncio.wrap_future(future)
        except TimeoutError:
            future.cancel()
            error = DatabaseUnavailableError("the database did not answer in time")
            if slow_is_away:
                self.health.failed(error)
            else:
                self.health.slow()
            raise error from None
        except Exception as error:
            if is_outage(error):
                self.health.failed(error)
            raise
        self.health.answered()
        return result

    async def run_session(
        self,
        function: Callable[..., T],
        *args: Any,
        limit: float | None = None,
        slow_is_away: bool = True,
        fail_fast: bool = False,
    ) -> T:
        """`function(session, *args)` in one transaction, through the seam."""

        def work() -> T:
            with self.session() as session:
                return function(session, *args)

        return await self.run(work, limit=limit, slow_is_away=slow_is_away, fail_fast=fail_fast)

    async def run_reading(
        self,
        function: Callable[..., T],
        *args: Any,
        limit: float | None = None,
        slow_is_away: bool = True,
        fail_fast: bool = False,
    ) -> T:
        """`function(session, *args)` in a read-only session, through the seam."""

        def work() -> T:
            with self.reading() as session:
                return function(session, *args)

        return await self.run(work, limit=limit, slow_is_away=slow_is_away, fail_fast=fail_fast)

    async def read_or(self, default: T, function: Callable[..., T], *args: Any) -> T:
        """A read an answer can do without: `default` at once while the database is away,
        or when it does not answer within `timeouts.read`."""
        if self.health.skipping:
            return default
        try:
            return await self.run_reading(
                function, *args, limit=self.timeouts.read, slow_is_away=False
            )
        except Exception as error:
            if not is_outage(error):
                raise
            return default

    def begin_update(self) -> None:
        """From here on in this task (one update), write_later keeps its bookkeeping for the
        update's own write (take_update_writes): one transaction per update, not one more
        for each count."""
        _UPDATE_WRITES.set(_UpdateWrites(self))

    def take_update_writes(self) -> list[Later]:
        """The bookkeeping kept since begin_update, for the update's write; write_later
        writes on its own again after this."""
        pending = _UPDATE_WRITES.get()
        if pending is None or pending.database is not self:
            return []
        _UPDATE_WRITES.set(None)
        return pending.writes

    def write_later(self, function: Callable[..., object], *args: Any) -> None:
        """Bookkeeping nobody waits for (answer statistics): written with the update's own
        write when the update began one (begin_update), else on the seam's threads after
        the answer; skipped, with a log line, while the database is away. Never for an owed
        message (those are written with their cause)."""
        pending = _UPDATE_WRITES.get()
        if pending is not None and pending.database is self:
            pending.writes.append((function, args))
            return
        if self.health.away:
            logger.info("Bookkeeping skipped: the database is away")
            return

        def work() -> None:
            with self.session() as session:
                function(session, *args)

        def done(future: Future[None]) -> None:
            self._later.discard(future)
            error = future.exception() if not future.cancelled() else None
            if error is not None:
                if is_outage(error):
                    self.health.failed(error)
                logger.warning("Bookkeeping not written: %s", type(error).__name__)

        future = self._pool().submit(work)
        self._later.add(future)
        future.add_done_callback(done)

    async def written(self) -> None:
        """Wait (at most `timeouts.call`) for what write_later has in hand: the end of an
        update, after its answer went out, so that the update is complete when it ends."""
        pending = [asyncio.wrap_future(future) for future in list(self._later)]
        if pending:
            await asyncio.wait(pending, timeout=self.timeouts.call)

    def refuse_while_away(self, *, or_slow: bool = False) -> None:
        """Raise DatabaseUnavailableError at once while the database is known to be away,
        where a call would only wait for its timeout. `or_slow`: also while reads an answer
        can do without are skipped (Health.skipping), for work with such a short limit."""
        if self.health.skipping if or_slow else self.health.away:
            raise DatabaseUnavailableError(f"the database is away ({self.health.reason})")

    def _refuse_on_loop_while_away(self) -> None:
        # A synchronous session opened on the event loop while the database is away would
        # stop every user's answers until it returns: it fails at once instead.
        if _on_event_loop():
            self.refuse_while_away()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        self._refuse_on_loop_while_away()
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads only: on SQLite it does not take the write lock (a per-update
        look-up must not queue behind every writer). Nothing written in it is kept."""
        self._refuse_on_loop_while_away()
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
        if revision == "head" and self._at_head():
            # Every start of the bot comes here: reading the version is one query, where
            # running Alembic's environment to find nothing to do cost 10-30 ms.
            logger.info("Database schema up to date on %s", safe_url(self.url))
            return
        logger.info("Applying database migrations on %s", safe_url(self.url))
        alembic_config = _alembic_config()
        with (
            self._watchdog.exempt(),
            self._migration_file_lock(),
            self.engine.begin() as connection,
        ):
            if connection.dialect.name == "postgresql":
                # A migration may take longer than any statement of the running bot, and
                # waits for another instance's migration (the advisory lock) as long as needed.
                connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
                connection.exec_driver_sql("SET LOCAL lock_timeout = 0")
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
            alembic_config.attributes["connection"] = connection
            command.upgrade(alembic_config, revision)

    def _at_head(self) -> bool:
        """Whether the database's schema is already the newest migration's (an unreadable
        or absent version says no: the migration then runs, or reports why it cannot)."""
        try:
            with self._watchdog.exempt(), self.engine.connect() as connection:
                current = set(MigrationContext.configure(connection).get_current_heads())
        except exc.DBAPIError:
            return False
        return current == _migration_heads()

    @contextmanager
    def _migration_file_lock(self) -> Iterator[None]:
        file = sqlite_file(self.url)
        lock = None
        if file is not None:
            try:
                lock = open(f"{file}.migrate-lock", "a")  # noqa: SIM115 (closed below)
            except OSError:
                # A read-only directory: BEGIN IMMEDIATE alone serialises.
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
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
            # A call still running holds a connection; disposing the engine under it leaves
            # that connection to the garbage collector, unclosed (psycopg warns, and the
            # server keeps a session). So wait for it, within a bound: the watchdog, still
            # on, cuts one hung on a database that does not answer.
            until = time.monotonic() + self.timeouts.call + 2.0
            for thread in list(getattr(executor, "_threads", ())):
                thread.join(max(0.0, until - time.monotonic()))
        self._watchdog.stop()
        self.engine.dispose()
