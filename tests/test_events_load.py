"""`mao-bot events load` never silently overwrites what organisers changed in the chat."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FakeClock

from bot.cli import main
from bot.config import AppConfig
from bot.services import build_services
from storage.activities import chat_conflicts, read_activity_file, upsert_activities
from storage.models import Activity

TEST_ACTIVITIES = Path(__file__).resolve().parent / "data" / "activities-test.yaml"


@pytest.fixture
def config_file(config: AppConfig, clock: FakeClock, tmp_path: Path, migrated_db_url: str) -> Path:
    services = build_services(config, clock)
    services.db.upgrade()
    specs = read_activity_file(TEST_ACTIVITIES).activities
    with services.db.session() as session:
        upsert_activities(session, specs, config.zone, clock())
        activity = session.query(Activity).filter_by(slug="kleine-dialoog").one()
        # An organiser renamed it and moved it to another place in the chat.
        activity.title_nl = "Kleine dialoog (nieuwe naam)"
        activity.location = "Bibliotheek Arnhem"
        activity.changed_in_chat = json.dumps(["title", "location"])
        # Changed in the chat but not named there: the file wins as before.
        activity.capacity = 7
    path = tmp_path / "config.yaml"
    path.write_text(f"storage:\n  url: {config.storage.url}\n")
    return path


def activity(config: AppConfig, clock: FakeClock) -> Activity:
    services = build_services(config, clock)
    with services.db.session() as session:
        found = session.query(Activity).filter_by(slug="kleine-dialoog").one()
        session.expunge(found)
        return found


def test_conflicts_name_only_chat_changed_fields_that_differ(
    config: AppConfig, clock: FakeClock, config_file: Path
) -> None:
    services = build_services(config, clock)
    specs = read_activity_file(TEST_ACTIVITIES).activities
    with services.db.session() as session:
        found = chat_conflicts(session, specs, config.zone)
    assert {(c.slug, c.field) for c in found} == {
        ("kleine-dialoog", "title_nl"),  # "title" covers both languages; title_en is the same
        ("kleine-dialoog", "location"),
    }


def test_events_load_reports_and_keeps_chat_changes(
    config: AppConfig, clock: FakeClock, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config_file), "events", "load", str(TEST_ACTIVITIES)]) == 0
    out = capsys.readouterr().out
    assert (
        "kleine-dialoog: title_nl: in chat Kleine dialoog (nieuwe naam), "
        "in file Kleine dialoog <&> ouders"
    ) in out
    assert "kleine-dialoog: location: in chat Bibliotheek Arnhem, in file Karakter, Arnhem" in out
    assert "--force" in out
    kept = activity(config, clock)
    assert kept.title_nl == "Kleine dialoog (nieuwe naam)"
    assert kept.location == "Bibliotheek Arnhem"
    assert kept.capacity == 2  # not named as changed in chat: the file's value, as before
    assert kept.changed_in_chat is not None


def test_events_load_force_applies_the_file(
    config: AppConfig, clock: FakeClock, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--config", str(config_file), "events", "load", str(TEST_ACTIVITIES), "--force"]
    assert main(args) == 0
    assert "title_nl: in chat" in capsys.readouterr().out
    forced = activity(config, clock)
    assert forced.title_nl == "Kleine dialoog <&> ouders"
    assert forced.location == "Karakter, Arnhem"
    assert forced.changed_in_chat is None
    # Loaded again: nothing left to report.
    assert main(["--config", str(config_file), "events", "load", str(TEST_ACTIVITIES)]) == 0
    assert "in chat" not in capsys.readouterr().out
