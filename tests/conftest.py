"""Shared fixtures: a real SQLite file per test, an injectable clock, and the bot driver."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import AppConfig, load_config
from bot.offline.driver import BotDriver
from bot.services import build_services
from core.services import Services

os.environ.setdefault("PTB_TIMEDELTA", "1")  # as bot.cli.main does
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
ADMIN_ID = 9001
POSTGRES_URL = os.environ.get(
    "MAO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


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
def config(db_url: str) -> AppConfig:
    base = load_config(ROOT / "config.yaml", environ={})
    return base.model_copy(
        update={
            # A read an answer can do without is given up after 0.5 s (storage/db.py): on a
            # machine busy with other tests that is not an outage.
            "storage": base.storage.model_copy(update={"url": db_url, "read_timeout": 2.0}),
            "admins": (ADMIN_ID,),
            # Tests that run on the real clock may run at night: quiet hours are tested in
            # tests/test_quiet_hours.py, with a clock the test sets.
            "broadcast": base.broadcast.model_copy(update={"quiet_hours": None}),
        }
    )


@pytest.fixture
def services_factory(config: AppConfig, clock: FakeClock):  # type: ignore[no-untyped-def]
    def factory() -> Services:
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


@pytest.fixture
def postgres_url() -> Iterator[str]:
    if not postgres_available():
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL} (set MAO_TEST_POSTGRES_URL)")
    import sqlalchemy

    # One database for every test: with the suite spread over processes (pytest -n), the
    # PostgreSQL tests take turns.
    with open(Path(tempfile.gettempdir()) / "mao-bot-postgres-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        engine = sqlalchemy.create_engine(POSTGRES_URL)
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        engine.dispose()
        yield POSTGRES_URL
