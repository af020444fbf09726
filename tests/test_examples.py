"""Example activities: never in a real bot unless asked for, never a real sign-up, and only
what the programme's own announcement says presented as fact."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import ROOT, SHARED, FakeClock, texts
from sqlalchemy import select

from bot.app import prepare_storage
from bot.config import AppConfig
from bot.offline.console import run_console
from bot.offline.driver import BotDriver
from bot.services import build_services
from core.settings import EXAMPLE_ACTIVITIES
from storage.activities import get_activity, read_activity_file
from storage.models import Activity, Registration
from storage.registrations import Outcome, SignupDetails, availability, register
from storage.vocabulary import Role

PARENT = 2301
ANNOUNCEMENT = SHARED / "seeds" / "000_a08648340f8f4342.txt"
# What the "Vooruitblik Activiteiten" of MAO II gives: title -> (month, day, start) or month.
SEED_DATES: dict[str, tuple[int, int | None, str | None]] = {
    "schone-lei-arnhem": (5, 18, None),
    "werksessie-inspiratienetwerk": (6, 2, "09:00"),
    "dialoog-thuiszitters": (6, None, None),
    "masterclass-netwerkregie": (6, None, None),
    "schone-lei-den-haag": (6, 20, None),
    "cop-langdurig-bindende-afspraken": (6, None, None),
}


def with_examples(config: AppConfig, examples: bool) -> AppConfig:
    activities = config.activities.model_copy(update={"examples": examples})
    return config.model_copy(update={"activities": activities})


def loaded(config: AppConfig, clock: FakeClock) -> list[tuple[str, bool]]:
    services = build_services(config, clock)
    prepare_storage(services)
    with services.db.session() as session:
        rows = session.execute(select(Activity.slug, Activity.is_sample)).all()
    services.db.dispose()
    return sorted((slug, is_sample) for slug, is_sample in rows)


# -- loading ----------------------------------------------------------------------------------


def test_the_shipped_config_loads_no_activities(config: AppConfig, clock: FakeClock) -> None:
    assert config.activities.examples is False
    assert loaded(config, clock) == []


def test_examples_load_only_when_asked_and_are_all_marked(
    config: AppConfig, clock: FakeClock
) -> None:
    rows = loaded(with_examples(config, True), clock)
    assert [slug for slug, _ in rows] == sorted(SEED_DATES)
    assert all(is_sample for _, is_sample in rows)


def test_sample_entries_of_an_own_file_are_skipped_unless_asked(
    config: AppConfig, clock: FakeClock, tmp_path: Path
) -> None:
    """An old config that still names the example file loads none of it."""
    activities = config.activities.model_copy(update={"file": EXAMPLE_ACTIVITIES})
    old_style = config.model_copy(update={"activities": activities})
    assert loaded(old_style, clock) == []
    assert len(loaded(with_examples(old_style, True), clock)) == len(SEED_DATES)


# -- the example file follows the announcement ---------------------------------------------


def test_examples_say_only_what_the_announcement_says() -> None:
    specs = read_activity_file(ROOT / "activities.yaml").activities
    assert {spec.slug for spec in specs} == set(SEED_DATES)
    for spec in specs:
        month, day, start = SEED_DATES[spec.slug]
        assert spec.sample, spec.slug
        assert spec.online_url is None, spec.slug  # no invented meeting links
        assert spec.capacity is None, spec.slug  # no invented capacities
        assert spec.starts_at.month == month, spec.slug
        if day is not None:
            assert spec.starts_at.day == day, spec.slug
        if start is not None:
            assert spec.starts_at.strftime("%H:%M") == start, spec.slug
        assert spec.starts_at.weekday() < 5, f"{spec.slug} falls in a weekend"
        # The description says it is an example, and what is filled in.
        assert spec.description.nl.startswith("Voorbeeld."), spec.slug
        assert spec.description.en.startswith("Example."), spec.slug
        assert "voorbeeld" in spec.description.nl.removeprefix("Voorbeeld."), spec.slug


def test_example_titles_are_the_announcements() -> None:
    if not ANNOUNCEMENT.exists():
        pytest.skip(f"{ANNOUNCEMENT} is absent")
    # One space for any run of spaces (the text has non-breaking ones).
    announcement = " ".join(ANNOUNCEMENT.read_text(encoding="utf-8").lower().split())
    for spec in read_activity_file(ROOT / "activities.yaml").activities:
        title = spec.title.nl.lower().split(" – ")[0].replace("werksessie", "").strip()
        assert title in announcement, spec.slug


# -- no real sign-up for an example ---------------------------------------------------------


def test_storage_refuses_a_sign_up_for_an_example(config: AppConfig, clock: FakeClock) -> None:
    services = build_services(with_examples(config, True), clock)
    prepare_storage(services)
    details = SignupDetails("Anna", Role.OUDER, None, None, None)
    with services.db.session() as session:
        activity = get_activity(session, "schone-lei-arnhem")
        assert activity is not None
        check = availability(session, activity, PARENT, clock())
        assert check.outcome is Outcome.EXAMPLE_ONLY
        result = register(session, activity.id, PARENT, details, clock(), join_waitlist=True)
        assert result.outcome is Outcome.EXAMPLE_ONLY
        demo = availability(session, activity, PARENT, clock(), examples_allowed=True)
        assert demo.outcome is Outcome.REGISTERED
    with services.db.session() as session:
        assert session.scalars(select(Registration)).all() == []
    services.db.dispose()


@pytest.fixture
async def example_driver(
    config: AppConfig, clock: FakeClock, migrated_db_url: str
) -> AsyncIterator[BotDriver]:
    # config's database, with the migrations already applied (a copy of the template)
    examples = with_examples(config, True)
    async with BotDriver(lambda: build_services(examples, clock)) as driver:
        yield driver
    assert driver.standin.rejected == []


async def test_a_real_bot_shows_examples_marked_and_refuses_their_sign_up(
    example_driver: BotDriver,
) -> None:
    agenda = texts(await example_driver.say(PARENT, "/agenda"))[0]
    assert agenda.count("🧪 <b>Voorbeeld</b>") == agenda.count("📅")
    answer = texts(await example_driver.press(PARENT, "Aanmelden"))
    assert "is een voorbeeld" in answer[0] and "aanmelden kan niet" in answer[0]
    answer = texts(await example_driver.say(PARENT, "/start signup_schone-lei-den-haag"))
    assert "is een voorbeeld" in answer[0]
    with example_driver.services.db.session() as session:
        assert session.scalars(select(Registration)).all() == []


async def test_the_console_lists_examples_and_takes_a_demo_sign_up(
    config: AppConfig, clock: FakeClock
) -> None:
    script = "\n".join(
        [
            "/agenda",
            "#1",  # Aanmelden: the first example
            "#1",  # ouder
            "Anna de Vries",
            "#1",  # no e-mail
            "#1",  # no question
            "#1",  # consent
            "#1",  # confirm
            "/mijnaanmeldingen",
        ]
    )
    out = io.StringIO()
    result = await run_console(
        lambda: build_services(config, clock), 4242, "nl", io.StringIO(script + "\n"), out
    )
    assert result == 0
    shown = out.getvalue()
    assert "[1] Aanmelden: Schone Lei werksessie – Arnhem" in shown
    assert "🧪 Voorbeeld – geen echte activiteit" in shown
    assert "Je bent aangemeld" in shown and "✅ Aangemeld" in shown
    services = build_services(config, clock)
    with services.db.session() as session:
        [name] = session.scalars(select(Registration.name)).all()
        assert name == "Anna de Vries"
        assert session.scalars(select(Activity.is_sample).distinct()).all() == [True]
    services.db.dispose()
