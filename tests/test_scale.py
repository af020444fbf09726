"""What the scale work changed: /agenda reads and counts only the page it shows, and the
benchmarks' database at scale holds what it claims."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, texts
from sqlalchemy import event, func, insert, select

from bot.offline.driver import BotDriver, buttons_of
from storage.activities import upcoming_activities, upcoming_kinds, upcoming_page
from storage.db import Database
from storage.models import Activity, OutboxMessage, Registration, User

USER = 1001


@pytest.fixture
def database(request: pytest.FixtureRequest, migrated_db_url: str) -> Iterator[Database]:
    """A migrated SQLite file, or the PostgreSQL test database."""
    param = getattr(request, "param", "sqlite")
    url = migrated_db_url
    db = Database(str(request.getfixturevalue("postgres_url")) if param == "postgres" else url)
    db.upgrade()
    yield db
    db.dispose()


def _dataset_module() -> Any:
    """benchmarks/ is scripts beside the package, not installed with it."""
    spec = importlib.util.spec_from_file_location(
        "bench_dataset", ROOT / "benchmarks" / "dataset.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


KINDS = ("dialoog", "fieldlab", "masterclass")


def _add_activities(db: Database, now: datetime, count: int) -> list[int]:
    """`count` upcoming activities a day apart (plus one past), activity n with n seats taken
    and one person waiting."""
    rows: list[dict[str, Any]] = []
    for n in range(count + 1):
        starts = now + timedelta(days=n + 1) if n < count else now - timedelta(days=3)
        rows.append(
            {
                "slug": f"act-{n:02d}",
                "kind": KINDS[n % len(KINDS)],
                "title_nl": f"Activiteit {n:02d}",
                "title_en": f"Activity {n:02d}",
                "starts_at": starts,
                "ends_at": starts + timedelta(hours=2),
                "capacity": 50,
                "status": "published",
                "updated_at": now,
            }
        )
    with db.session() as session:
        session.execute(insert(Activity), rows)
        ids = list(session.scalars(select(Activity.id).order_by(Activity.slug)))
        registrations = [
            {
                "activity_id": activity_id,
                "user_id": 50_000 + 100 * n + k,
                "name": "X",
                "role": "ouder",
                "status": "registered" if k < n else "waiting",
                "registered_at": now,
                "queued_at": now,
                "consent_at": now,
                "updated_at": now,
            }
            for n, activity_id in enumerate(ids)
            for k in range(n + 1)
        ]
        session.execute(insert(Registration), registrations)
    return ids


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_page_counts_only_its_own_activities(database: Database) -> None:
    db = database
    now = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    _add_activities(db, now, 12)
    counted: list[Any] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def _seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "GROUP BY registrations.activity_id" in statement:
            counted.append(parameters)

    with db.session() as session:
        everything = upcoming_activities(session, now)
        counted.clear()
        second = upcoming_page(session, now, 1, 5)
    assert len(everything) == 12  # the past one is not upcoming
    assert (second.page, second.pages) == (1, 3)
    assert [a.slug for a in second.activities] == [a.slug for a in everything[5:10]]
    # Same seats and waiting list as the full list says, counted for these five only.
    assert [(a.taken, a.waiting) for a in second.activities] == [
        (a.taken, a.waiting) for a in everything[5:10]
    ]
    assert second.activities[0].taken == 5 and second.activities[0].waiting == 1
    assert len(counted) == 1 and len(counted[0]) == 5


def test_a_page_past_the_end_shows_the_last_and_kinds_filter(database: Database) -> None:
    db = database
    now = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    with db.session() as session:
        assert upcoming_page(session, now, 0, 5).pages == 0
        assert upcoming_kinds(session, now) == set()
    _add_activities(db, now, 7)
    with db.session() as session:
        last = upcoming_page(session, now, 99, 5)
        fieldlabs = upcoming_page(session, now, 0, 5, "fieldlab")
        kinds = upcoming_kinds(session, now)
    assert (last.page, last.pages, len(last.activities)) == (1, 2, 2)
    assert [a.slug for a in fieldlabs.activities] == ["act-01", "act-04"]
    assert kinds == set(KINDS)


async def test_agenda_pages_through_the_activities(driver: BotDriver) -> None:
    _add_activities(driver.services.db, driver.services.now(), 7)
    first = texts(await driver.say(USER, "/agenda"))[0]
    assert "(pagina 1/2)" in first
    assert "Activiteit 00" in first and "Activiteit 04" in first
    assert "Activiteit 05" not in first
    message = driver.latest_message_with_buttons(USER)
    assert message is not None
    following = next(data for label, data in buttons_of(message) if "Volgende" in label)
    second = next(
        c.params["text"]
        for c in await driver.press_data(USER, following, message)
        if c.method == "editMessageText"
    )
    assert "(pagina 2/2)" in second
    assert "Activiteit 05" in second and "Activiteit 06" in second
    assert "Activiteit 04" not in second


def test_the_scale_database_holds_what_it_claims(tmp_path: Path) -> None:
    dataset = _dataset_module()
    sizes = dataset.Sizes(
        users=300, registrations=600, reminders=400, activities=10, conversations=5
    )
    path = dataset.build(tmp_path / "scale.sqlite3", sizes)
    db = Database(f"sqlite:///{path}")
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 300
        assert session.scalar(select(func.count()).select_from(Registration)) == 600
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 400
        people = session.scalar(select(func.count(func.distinct(OutboxMessage.user_id))))
    assert people == 200  # two reminders for each seat: 2 days and 2 hours before
    assert dataset.make_due(path, 10, timedelta(seconds=60)) == 10
    with db.session() as session:
        soon = session.execute(
            select(func.count(), func.count(func.distinct(OutboxMessage.user_id))).where(
                OutboxMessage.due_at <= datetime.now(UTC) + timedelta(seconds=61)
            )
        ).one()
    db.dispose()
    assert tuple(soon) == (10, 10)  # one reminder each, as an activity's attendees get them


def test_start_up_imports_neither_the_spreadsheet_nor_the_chart_library() -> None:
    """openpyxl (0.6 s, 28 MB) and matplotlib load when an organiser asks for a file or a
    chart, not at every start of every instance."""
    probe = (
        "import sys, bot.cli, bot.app, handlers.attendees, handlers.stats; "
        "print(sorted(m for m in ('openpyxl', 'matplotlib') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
