"""Shared fixtures: a real SQLite file per test, an injectable clock, and the bot driver.

The suite starts the bot some 600 times, so what every start repeats is done once per test
process (pytest -n runs several) and shared: the migrated database (a template file copied
for each test, see `migrated_db_url`), the parsed message catalogues, the TLS context of the
HTTP clients, and the FAQ index (in memory, and on disk for subprocesses, see
`pytest_configure`). What a test sees is the same as without the sharing.
"""

from __future__ import annotations

import atexit
import copy
import fcntl
import functools
import gc
import itertools
import os
import shutil
import sqlite3
import ssl
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx._transports.default as httpx_transports
import pytest
from sqlalchemy import make_url

from bot.app import register_owed_kinds
from bot.config import AppConfig, load_config
from bot.offline.driver import BotDriver
from bot.services import build_faq, build_services
from core.i18n import LOCALES, Catalogue
from core.services import Services
from storage.db import Database

os.environ.setdefault("PTB_TIMEDELTA", "1")  # as bot.cli.main does
# Charts and workbooks in a thread: a process of their own (core.apart) costs each test
# seconds; tests/test_organisers_at_scale.py runs that process.
os.environ.setdefault("MAO_APART_IN_A_THREAD", "1")
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
ADMIN_ID = 9001
POSTGRES_URL = os.environ.get(
    "MAO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


CACHE_DIR_ENV = "MAO_CACHE_DIR"


def pytest_configure(config: pytest.Config) -> None:
    """One FAQ index cache for the whole run, built once while the test processes start:
    they and the `mao-bot` processes of the tests read it instead of building the index each
    (and the user's own ~/.cache is left alone)."""
    if hasattr(config, "workerinput") or os.environ.get(CACHE_DIR_ENV):
        return  # an xdist worker inherits the controller's; or the caller chose one
    directory = tempfile.mkdtemp(prefix="mao-tests-faq-cache-")
    os.environ[CACHE_DIR_ENV] = directory
    config.stash[_OWN_CACHE_DIR] = directory
    # Built while the test processes start and collect (10 s and more): a process that
    # needs the index before it is on disk builds its own, as without the cache.
    builder = threading.Thread(target=_prepare_for_the_processes, args=(config,), name="prepare")
    builder.start()
    config.stash[_CACHE_BUILDER] = builder


def _prepare_for_the_processes(config: pytest.Config) -> None:
    _rewrite_the_test_modules_once(config)
    build_faq(_base_config())


def _rewrite_the_test_modules_once(config: pytest.Config) -> None:
    """pytest rewrites the asserts of every test module in every test process (2-3 s of CPU
    each), and keeps the result in tests/__pycache__ only where Python may write bytecode:
    rewritten here once, the processes read it (pytest checks it against the source's hash).
    Best effort: pytest's own internals, and without it the processes rewrite as before."""
    try:
        from _pytest.assertion import rewrite

        state = config.stash[rewrite.assertstate_key]
        for module in sorted(Path(__file__).parent.glob("test_*.py")):
            cache_dir = rewrite.get_cache_dir(module)
            pyc = cache_dir / (module.name[:-3] + rewrite.PYC_TAIL)
            if rewrite._read_pyc(module, pyc) is not None:
                continue
            cache_dir.mkdir(exist_ok=True)
            source_hash, code = rewrite._rewrite_test(module, config)
            rewrite._write_pyc(state, code, source_hash, pyc)
    except Exception:  # only slower without it
        return


def pytest_unconfigure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        atexit.register(_leave_without_teardown)
    builder = config.stash.get(_CACHE_BUILDER, None)
    if builder is not None:
        builder.join()
    directory = config.stash.get(_OWN_CACHE_DIR, None)
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)
        os.environ.pop(CACHE_DIR_ENV, None)


_TESTS_PER_COLLECTION = 10
_tests_done = itertools.count(1)


def pytest_collection_finish(session: pytest.Session) -> None:
    """A test process runs some 250 tests, each starting a bot: tens of thousands of objects
    that live through one test and die with it, beside all that lives as long as the process
    (imports, caches, the FAQ index). Python's full collections, a dozen or two a process,
    walked all of it each time: 20-25 s of the suite's CPU. Here a full collection after every
    ten tests frees what they left behind, and what survives it is set aside (gc.freeze) so
    that no later collection walks it again; the automatic full collections are left to that
    (young objects are still collected as usual). The suite's full collections: 6 s."""
    _collect_and_set_aside()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, 1_000_000)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    if next(_tests_done) % _TESTS_PER_COLLECTION == 0:
        _collect_and_set_aside()


def _collect_and_set_aside() -> None:
    gc.collect()
    gc.freeze()


@pytest.fixture
def without_collections() -> Iterator[None]:
    """For a test that times the code to tens of milliseconds: no garbage collection of what
    earlier tests in this process left behind can fall in what it times."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _leave_without_teardown() -> None:
    """The last step of a test process (xdist worker), after its results are sent and every
    other exit handler registered since the end of its tests has run. The interpreter's own
    teardown frees what some 250 tests left in memory object by object: 4-6 s of CPU per
    process at the very end of the run, which the run waits for and nothing needs."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


_OWN_CACHE_DIR = pytest.StashKey[str]()
_CACHE_BUILDER = pytest.StashKey[threading.Thread]()


@functools.cache
def _base_config() -> AppConfig:
    return load_config(ROOT / "config.yaml", environ={})


# -- what every start of the bot repeats, done once per process ----------------------------------

_load_catalogue = Catalogue.load.__func__  # type: ignore[attr-defined]
_parsed_catalogues: dict[tuple[str, Path, tuple[str, ...]], Catalogue] = {}


def _shared_catalogue_load(
    cls: type[Catalogue], default: str = "nl", folder: Path = LOCALES
) -> Catalogue:
    """Catalogue.load, parsing each distinct text once (YAML parsing is most of a start).
    Keyed on the files' text, so a test that writes its own catalogues gets those; each
    caller gets its own copy of the messages."""
    texts = tuple(
        (folder / f"{language}.yaml").read_text(encoding="utf-8") for language in ("nl", "en")
    )
    key = (default, folder, texts)
    parsed = _parsed_catalogues.get(key)
    if parsed is None:
        parsed = _load_catalogue(cls, default, folder)
        _parsed_catalogues[key] = parsed
    return cls(copy.deepcopy(parsed.messages), parsed.default)


Catalogue.load = classmethod(_shared_catalogue_load)  # type: ignore[assignment, method-assign]

_create_ssl_context = httpx_transports.create_ssl_context  # type: ignore[attr-defined]


@functools.cache
def _default_ssl_context(_cert_file: str | None, _cert_dir: str | None) -> ssl.SSLContext:
    return _create_ssl_context()  # reads those two from the environment itself


def _shared_ssl_context(
    verify: Any = True, cert: Any = None, trust_env: bool = True
) -> ssl.SSLContext:
    """httpx loads the whole CA bundle for every client (two per Application start, 0.1 s of
    CPU); one context serves them all, as httpx's documentation recommends."""
    if verify is True and cert is None and trust_env:
        environ = os.environ
        return _default_ssl_context(environ.get("SSL_CERT_FILE"), environ.get("SSL_CERT_DIR"))
    return _create_ssl_context(verify=verify, cert=cert, trust_env=trust_env)


# httpx's transport looks the function up in its own module at each client.
httpx_transports.create_ssl_context = _shared_ssl_context  # type: ignore[attr-defined]


@pytest.fixture(scope="session", autouse=True)
def owed_kinds() -> None:
    """Storage writes each owed message's priority, declared by the feature that owes it and
    registered at start (bot.app.register_owed_kinds): tests that use storage without a
    bot register them too."""
    register_owed_kinds()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file with every migration applied, made once per test process."""
    path = tmp_path_factory.mktemp("template") / "migrated.sqlite3"
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    database.dispose()
    # Fold the write-ahead log into the file, so the file alone is the whole database.
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    for leftover in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    return path


def copy_migrated(url: str, template: Path) -> None:
    """Give a not yet existing SQLite database the template's migrated schema; the bot's own
    migration at start then finds nothing to do. Other URLs are left alone."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return
    path = Path(parsed.database)
    if parsed.database != ":memory:" and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, path)


@dataclass
class FakeClock:
    moment: datetime = field(default_factory=lambda: datetime(2027, 3, 1, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, delta: timedelta) -> None:
        self.moment += delta


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mao.sqlite3'}"


@pytest.fixture
def migrated_db_url(db_url: str, migrated_template: Path) -> str:
    """`db_url` with every migration already applied (a copy of the template)."""
    copy_migrated(db_url, migrated_template)
    return db_url


@pytest.fixture
def config(db_url: str) -> AppConfig:
    base = _base_config()
    return base.model_copy(
        update={
            # A read an answer can do without is given up after 0.5 s (storage/db.py): on a
            # machine busy with other tests that is not an outage.
            "storage": base.storage.model_copy(update={"url": db_url, "read_timeout": 2.0}),
            "admins": (ADMIN_ID,),
            "broadcast": base.broadcast.model_copy(
                update={
                    # Tests that run on the real clock may run at night: quiet hours are
                    # tested in tests/test_quiet_hours.py, with a clock the test sets.
                    "quiet_hours": None,
                    # Telegram's 30 a second would make every reply wait its 35 ms slot (a
                    # minute of the suite); the tests about pacing set their own
                    # (test_outbox_throughput).
                    "messages_per_second": 1000,
                    # Telegram's second per chat, waited for real while the tests move a
                    # fake clock, cost the suite over a minute; the stand-in has no such limit
                    # unless a test sets one (and then sets the gap too).
                    "chat_gap": timedelta(seconds=0.2),
                }
            ),
        }
    )


@pytest.fixture
def services_factory(  # type: ignore[no-untyped-def]
    config: AppConfig, clock: FakeClock, migrated_template: Path
):
    def factory() -> Services:
        # A test that made its database itself (or changed the URL) keeps it.
        copy_migrated(config.storage.url, migrated_template)
        return build_services(config, clock)

    return factory


@pytest.fixture
async def driver(services_factory) -> AsyncIterator[BotDriver]:  # type: ignore[no-untyped-def]
    async with BotDriver(services_factory) as bot_driver:
        yield bot_driver
    # Nothing the bot sent may be refused by Telegram (bad HTML, too long, a bad button).
    assert bot_driver.standin.rejected == []


def texts(calls) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(c.params.get("text", "")) for c in calls if c.method == "sendMessage"]


def postgres_available() -> bool:
    try:
        import psycopg

        url = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, connect_timeout=2):
            return True
    except Exception:
        return False


@functools.cache
def _own_postgres_url(worker: str) -> str:
    """A database of this test process's own (`test_gw0`, `test_main`, …) beside the
    configured one, so that the processes of one run do not wait for each other; the
    configured database (its settings left alone) when another cannot be created."""
    import psycopg

    base = make_url(POSTGRES_URL)
    name = f"{base.database}_{worker}"
    server = base.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        with psycopg.connect(server, autocommit=True, connect_timeout=2) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if exists is None:
                connection.execute(f'CREATE DATABASE "{name}"')
            # A commit need not wait for the disk: nothing here outlives a crash of the
            # server, and what a transaction sees is the same.
            connection.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    except Exception:
        return POSTGRES_URL
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if not postgres_available():
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL} (set MAO_TEST_POSTGRES_URL)")
    import sqlalchemy

    worker = getattr(request.config, "workerinput", {}).get("workerid", "main")
    url = _own_postgres_url(worker)
    # Other test runs on this machine may use the same database: they take turns.
    own = "" if url == POSTGRES_URL else f"-{make_url(url).database}"
    with open(Path(tempfile.gettempdir()) / f"mao-bot-postgres-tests{own}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        engine = sqlalchemy.create_engine(url)
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        engine.dispose()
        yield url


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests that wait seconds of real time (marked slow) first in each test process's
    share: pytest-xdist hands each process a contiguous share of this list, and a slow test
    left to the end keeps the whole run waiting for it while the other processes are done."""
    slow = [item for item in items if item.get_closest_marker("slow")]
    if not slow:
        return
    rest = [item for item in items if not item.get_closest_marker("slow")]
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    ordered: list[pytest.Item] = []
    for share in range(workers):
        ordered += slow[share::workers]
        ordered += rest[share * len(rest) // workers : (share + 1) * len(rest) // workers]
    items[:] = ordered
