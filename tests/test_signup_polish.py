"""Sign-up that forgives and informs: going back, telling sessions apart, who an activity is
for, the question for returning users, calendar files, meeting links, other dates, times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from conftest import FakeClock, texts
from sqlalchemy import select

from bot.config import AppConfig
from bot.offline.driver import BotDriver, buttons_of
from bot.offline.standin import ApiCall
from core.dates import format_period
from core.i18n import Catalogue
from core.typed_choice import ROLE_WORDS, typed_choice
from handlers.signup import SignupDraft, Step, previous_step
from storage.activities import (
    ActivitySpec,
    get_activity,
    read_activity_file,
    upsert_activities,
)
from storage.db import Database
from storage.models import OutboxMessage, Registration
from storage.outbox import OutboxKind, OutboxStatus
from storage.registrations import (
    Outcome,
    SignupDetails,
    availability,
    cancel_registration,
    register,
)
from storage.vocabulary import Role

ZONE = ZoneInfo("Europe/Amsterdam")
PARENT, PRO, OTHER = 2401, 2402, 2403
JOIN_URL = "https://example.org/meet?id=1&x=2"
# The clock of the tests is 2027-03-01 10:00 in the Netherlands.
ACTIVITIES = f"""
activities:
  - slug: schone-lei-arnhem
    kind: werksessie
    title: {{nl: "Schone Lei", en: "Clean Slate"}}
    description: {{nl: "Opnieuw ontwerpen.", en: "Designing again."}}
    starts_at: 2027-05-18T14:00:00
    ends_at: 2027-05-18T16:00:00
    location: "Karakter, Arnhem"
    capacity: 1
  - slug: schone-lei-den-haag
    kind: werksessie
    title: {{nl: "Schone Lei", en: "Clean Slate"}}
    starts_at: 2027-06-22T14:00:00
    ends_at: 2027-06-22T16:00:00
    location: "OCW, Den Haag"
  - slug: masterclass-open
    kind: masterclass
    title: {{nl: "Masterclass Regie", en: "Masterclass Direction"}}
    starts_at: 2027-04-06T14:00:00
    ends_at: 2027-04-06T16:00:00
    location: "Utrecht"
    audience: professionals
  - slug: masterclass-strikt
    kind: masterclass
    title: {{nl: "Masterclass Jeugdrecht", en: "Masterclass Youth Law"}}
    starts_at: 2027-04-13T14:00:00
    ends_at: 2027-04-13T16:00:00
    location: "Utrecht"
    audience: professionals
    audience_strict: true
  - slug: ouderavond
    kind: dialoog
    title: {{nl: "Ouderavond", en: "Parents' evening"}}
    description: {{nl: "We praten samen.", en: "We talk together."}}
    starts_at: 2027-03-10T19:00:00
    ends_at: 2027-03-10T20:30:00
    online_url: "{JOIN_URL}"
    capacity: 5
"""


@pytest.fixture
def activities_file(tmp_path: Path) -> Path:
    path = tmp_path / "activiteiten.yaml"
    path.write_text(ACTIVITIES, encoding="utf-8")
    return path


@pytest.fixture
def config(config: AppConfig, activities_file: Path) -> AppConfig:
    activities = config.activities.model_copy(update={"file": activities_file})
    return config.model_copy(update={"activities": activities})


def labels(driver: BotDriver, user: int) -> list[str]:
    return [label for label, _ in buttons_of(driver.latest_message_with_buttons(user) or {})]


def registrations(driver: BotDriver) -> list[tuple[int, str, str, str]]:
    with driver.services.db.session() as session:
        rows = session.execute(
            select(Registration.user_id, Registration.name, Registration.role, Registration.status)
        ).all()
    return sorted((r[0], r[1], r[2], r[3]) for r in rows)


def documents(calls: list[ApiCall]) -> list[ApiCall]:
    return [c for c in calls if c.method == "sendDocument"]


def event_of(document: ApiCall) -> icalendar.Component:
    _, data = next(iter(document.files.values()))
    [event] = icalendar.Calendar.from_ical(data).walk("VEVENT")
    return event


async def sign_up(
    driver: BotDriver, user: int, slug: str, name: str = "Anna", *, waitlist: bool = False
) -> list[ApiCall]:
    """A first sign-up as a parent, without e-mail or question."""
    await driver.say(user, f"/start signup_{slug}")
    if waitlist:
        await driver.press(user, "Ja, op de wachtlijst")
    await driver.press(user, "Ouder")
    await driver.say(user, name)
    await driver.press(user, "Overslaan")
    await driver.press(user, "Geen vraag")
    await driver.press(user, "akkoord")
    return await driver.press(user, "Bevestigen")


async def sign_up_again(driver: BotDriver, user: int, slug: str) -> list[ApiCall]:
    """A returning user: the remembered answers, no question."""
    await driver.say(user, f"/start signup_{slug}")
    await driver.press(user, "Ja, klopt")
    await driver.press(user, "Geen vraag")
    return await driver.press(user, "Bevestigen")


def move(driver: BotDriver, slug: str, file: Path, starts: datetime) -> None:
    original = next(s for s in read_activity_file(file).activities if s.slug == slug)
    length = original.ends_at - original.starts_at
    moved = ActivitySpec.model_validate(
        {**original.model_dump(), "starts_at": starts, "ends_at": starts + length}
    )
    services = driver.services
    with services.db.session() as session:
        upsert_activities(
            session,
            (moved,),
            services.config.zone,
            services.now(),
            services.config.reminders.offsets,
            services.config.reminders.join_link_before,
        )


# -- 1. going back -----------------------------------------------------------------------------


async def test_typing_terug_goes_back_and_keeps_the_answer(driver: BotDriver) -> None:
    await driver.say(PARENT, "/start signup_schone-lei-den-haag")
    await driver.press(PARENT, "Ouder")
    await driver.say(PARENT, "Anna de Vries")
    calls = await driver.say(PARENT, "terug")
    assert "Wat is je naam" in texts(calls)[0]
    assert labels(driver, PARENT) == ["✔️ Zo laten: Anna de Vries", "← Terug"]
    calls = await driver.press(PARENT, "Zo laten")
    assert "e-mailadres" in texts(calls)[0]
    calls = await driver.say(PARENT, "Back")  # English works too
    assert "Wat is je naam" in texts(calls)[0]
    calls = await driver.say(PARENT, "terug")
    assert "ouder of als professional" in texts(calls)[0]
    assert "✓ Ouder" in labels(driver, PARENT)
    await driver.press(PARENT, "Ouder")
    await driver.press(PARENT, "Zo laten")
    await driver.press(PARENT, "Overslaan")
    await driver.press(PARENT, "Geen vraag")
    await driver.press(PARENT, "akkoord")
    calls = await driver.press(PARENT, "Bevestigen")
    assert "Je bent aangemeld" in texts(calls)[0]
    assert registrations(driver) == [(PARENT, "Anna de Vries", "ouder", "registered")]


async def test_a_role_typed_instead_of_tapped_is_taken(driver: BotDriver) -> None:
    asked = texts(await driver.say(PARENT, "/start signup_schone-lei-den-haag"))
    assert "ouder of als professional" in asked[-1]
    assert "Kies een van de knoppen" in texts(await driver.say(PARENT, "wat is dit?"))[0]
    assert "Wat is je naam" in texts(await driver.say(PARENT, "Ouder"))[0]
    await driver.say(PARENT, "/annuleer")
    await driver.say(PRO, "/start signup_schone-lei-den-haag")
    assert "sector" in texts(await driver.say(PRO, "ik ben profesional"))[0]
    assert "Wat is je naam" in texts(await driver.say(PRO, "onderwijs"))[0]
    await driver.say(PRO, "Piet Bakker")
    await driver.press(PRO, "Overslaan")
    await driver.press(PRO, "Geen vraag")
    await driver.press(PRO, "akkoord")
    assert "Je bent aangemeld" in texts(await driver.press(PRO, "Bevestigen"))[0]
    assert registrations(driver) == [(PRO, "Piet Bakker", "professional", "registered")]


def test_typed_choice_tolerates_case_typos_and_english_but_not_two_answers() -> None:
    options = {"ouder": ["Ouder", "Parent", *ROLE_WORDS["ouder"]], "professional": ["prof"]}
    for typed in ("ouder", "OUDER", "Oudr", "parent", "Parents!", "ik ben ouder", "moeder"):
        assert typed_choice(typed, options) == "ouder", typed
    for typed in ("", "ouder en prof", "wat is een ouderavond precies voor iets", "zorg"):
        assert typed_choice(typed, options) is None, typed


async def test_back_button_walks_every_step_back_to_the_picker(driver: BotDriver) -> None:
    await sign_up(driver, OTHER, "schone-lei-arnhem")  # the only seat: PRO has to wait
    await driver.say(PRO, "/start signup_schone-lei-arnhem")
    await driver.press(PRO, "Ja, op de wachtlijst")
    await driver.press(PRO, "Professional")
    await driver.press(PRO, "Zorg")
    await driver.say(PRO, "Piet Bakker")
    await driver.say(PRO, "piet@example.org")
    await driver.say(PRO, "Is er koffie?")
    calls = await driver.press(PRO, "akkoord")
    assert "Klopt dit?" in texts(calls)[0]
    steps = [
        ("Toestemming", None),
        ("vraag of opmerking", "✔️ Zo laten: Is er koffie?"),
        ("e-mailadres", "✔️ Zo laten: piet@example.org"),
        ("Wat is je naam", "✔️ Zo laten: Piet Bakker"),
        ("In welke sector", "✓ Zorg"),
        ("ouder of als professional", "✓ Professional"),
        ("wachtlijst", "Ja, op de wachtlijst"),
        ("Voor welke activiteit", None),
    ]
    for prompt, label in steps:
        calls = await driver.press(PRO, "← Terug")
        assert prompt in texts(calls)[-1], prompt
        if label is not None:
            assert label in labels(driver, PRO), label
    calls = await driver.say(PRO, "terug")
    assert "eerste stap" in texts(calls)[0]
    # Another session: the answers given are offered again, nothing has to be retyped.
    await driver.press(PRO, "Den Haag")
    await driver.press(PRO, "Professional")
    await driver.press(PRO, "Zorg")
    await driver.press(PRO, "Zo laten")
    await driver.press(PRO, "Zo laten")
    await driver.press(PRO, "Zo laten")
    calls = await driver.press(PRO, "akkoord")
    summary = texts(calls)[0]
    assert "Piet Bakker, Professional (Zorg)" in summary
    assert "piet@example.org" in summary and "Is er koffie?" in summary
    assert "Den Haag" in summary
    await driver.press(PRO, "Bevestigen")
    assert (PRO, "Piet Bakker", "professional", "registered") in registrations(driver)


async def test_an_old_back_button_does_not_go_back_twice(driver: BotDriver) -> None:
    await driver.say(PARENT, "/start signup_schone-lei-den-haag")
    await driver.press(PARENT, "Ouder")
    name_step = driver.latest_message_with_buttons(PARENT)
    assert name_step is not None
    await driver.say(PARENT, "Anna")
    calls = await driver.press_data(PARENT, "signup:back:name", name_step)
    assert any(
        "werkt niet meer" in str(c.params.get("text", ""))
        for c in calls
        if c.method == "answerCallbackQuery"
    )
    calls = await driver.say(PARENT, "anna@example.org")  # still at the e-mail step
    assert "vraag of opmerking" in texts(calls)[0]


async def test_summary_changes_one_answer_and_comes_back(driver: BotDriver) -> None:
    await driver.say(PARENT, "/start signup_schone-lei-den-haag")
    await driver.press(PARENT, "Ouder")
    await driver.say(PARENT, "Anna")
    await driver.press(PARENT, "Overslaan")
    await driver.press(PARENT, "Geen vraag")
    await driver.press(PARENT, "akkoord")
    summary_labels = labels(driver, PARENT)
    assert summary_labels[:2] == ["✅ Bevestigen", "Annuleren"]  # #1 still confirms
    assert {"✏️ Wijzig naam", "✏️ Wijzig rol", "✏️ Wijzig e-mail", "✏️ Wijzig vraag"} <= set(
        summary_labels
    )
    await driver.press(PARENT, "Wijzig naam")
    calls = await driver.say(PARENT, "Anna Jansen")
    assert "Klopt dit?" in texts(calls)[0] and "Anna Jansen, Ouder" in texts(calls)[0]
    # Professional, then back twice without a sector: the role stays as it was.
    await driver.press(PARENT, "Wijzig rol")
    await driver.press(PARENT, "Professional")
    await driver.press(PARENT, "← Terug")
    assert "✓ Ouder" in labels(driver, PARENT)
    calls = await driver.press(PARENT, "← Terug")
    assert "Anna Jansen, Ouder" in texts(calls)[0]
    await driver.press(PARENT, "Wijzig rol")
    await driver.press(PARENT, "Professional")
    calls = await driver.press(PARENT, "Onderwijs")
    assert "Anna Jansen, Professional (Onderwijs)" in texts(calls)[0]
    await driver.press(PARENT, "Wijzig e-mail")
    calls = await driver.press(PARENT, "← Terug")  # changed my mind: the summary, unchanged
    assert "Klopt dit?" in texts(calls)[0] and "✉️ geen" in texts(calls)[0]
    await driver.press(PARENT, "Wijzig vraag")
    calls = await driver.say(PARENT, "Mag mijn kind mee?")
    assert "Mag mijn kind mee?" in texts(calls)[0]
    await driver.press(PARENT, "Bevestigen")
    with driver.services.db.session() as session:
        row = session.scalars(select(Registration)).one()
    assert (row.name, row.role, row.sector) == ("Anna Jansen", "professional", "onderwijs")
    assert row.question == "Mag mijn kind mee?"


async def test_going_back_survives_a_restart(driver: BotDriver) -> None:
    await driver.say(PARENT, "/start signup_schone-lei-den-haag")
    await driver.press(PARENT, "Ouder")
    await driver.say(PARENT, "Anna")
    await driver.say(PARENT, "terug")
    await driver.restart()
    calls = await driver.press(PARENT, "Zo laten: Anna")
    assert "e-mailadres" in texts(calls)[0]
    calls = await driver.say(PARENT, "terug")
    assert "Wat is je naam" in texts(calls)[0]


def test_previous_step_follows_the_way_the_user_came() -> None:
    fresh: SignupDraft = {"slug": "x", "activity_id": 1, "waitlist": False}
    assert previous_step(Step.ROLE, fresh) is Step.PICK
    assert previous_step(Step.NAME, {**fresh, "role": "ouder"}) is Step.ROLE
    assert previous_step(Step.NAME, {**fresh, "role": "professional"}) is Step.SECTOR
    assert previous_step(Step.SUMMARY, fresh) is Step.CONSENT
    waiting: SignupDraft = {**fresh, "waitlist": True}
    assert previous_step(Step.ROLE, waiting) is Step.WAITLIST
    profile: SignupDraft = {
        **waiting,
        "profile": {"name": "A", "role": "ouder", "sector": None, "email": None},
    }
    assert previous_step(Step.ROLE, profile) is Step.PROFILE
    assert previous_step(Step.PROFILE, profile) is Step.WAITLIST
    reused: SignupDraft = {**profile, "reused": True}
    assert previous_step(Step.SUMMARY, reused) is Step.QUESTION
    assert previous_step(Step.QUESTION, reused) is Step.PROFILE
    editing: SignupDraft = {**fresh, "editing": True}
    assert previous_step(Step.EMAIL, editing) is Step.SUMMARY
    assert previous_step(Step.SECTOR, editing) is Step.ROLE


# -- 2. picking an activity ------------------------------------------------------------------


async def test_picker_and_agenda_tell_sessions_apart_and_mark_places(driver: BotDriver) -> None:
    await driver.say(PARENT, "/aanmelden")
    assert labels(driver, PARENT) == [
        "Ouderavond · wo 10 mrt · online",
        "Masterclass Regie · di 6 apr · Utrecht",
        "Masterclass Jeugdrecht · di 13 apr · Utrecht",
        "Schone Lei · di 18 mei · Arnhem",
        "Schone Lei · di 22 jun · Den Haag",
    ]
    await driver.say(PARENT, "/annuleer")
    await sign_up(driver, OTHER, "schone-lei-arnhem")
    await sign_up(driver, PARENT, "schone-lei-den-haag")
    await driver.say(PARENT, "/start signup_schone-lei-arnhem")
    await driver.press(PARENT, "Ja, op de wachtlijst")
    await driver.press(PARENT, "Ja, klopt")
    await driver.press(PARENT, "Geen vraag")
    await driver.press(PARENT, "Bevestigen")
    await driver.say(PARENT, "/aanmelden")
    shown = labels(driver, PARENT)
    assert "Schone Lei · di 18 mei · Arnhem · ⏳ wachtlijst, plek 1" in shown
    assert "Schone Lei · di 22 jun · Den Haag · ✅ je bent aangemeld" in shown
    await driver.say(PRO, "/aanmelden")
    assert "Schone Lei · di 18 mei · Arnhem · vol – wachtlijst" in labels(driver, PRO)
    assert all(len(label) <= 60 for label in labels(driver, PRO))

    agenda = texts(await driver.say(PARENT, "/agenda"))[0]
    assert "✅ Je bent aangemeld" in agenda
    assert "⏳ Je staat op de wachtlijst, plek 1" in agenda
    # Places held: no sign-up button for them.
    assert not any("Schone Lei" in label for label in labels(driver, PARENT))
    await driver.say(PRO, "/agenda")
    assert "Wachtlijst: Schone Lei" in labels(driver, PRO)


# -- 3. who an activity is for ---------------------------------------------------------------


async def test_a_parent_is_told_whom_a_masterclass_is_for_and_may_go_on(
    driver: BotDriver,
) -> None:
    await driver.say(PARENT, "/start signup_masterclass-open")
    calls = await driver.press(PARENT, "Ouder")
    said = texts(calls)
    assert "bedoeld voor professionals" in said[0] and "toch aanmelden" in said[0]
    assert "Wat is je naam" in said[1]
    await driver.say(PARENT, "Anna")
    await driver.press(PARENT, "Overslaan")
    await driver.press(PARENT, "Geen vraag")
    calls = await driver.press(PARENT, "akkoord")
    assert "Bedoeld voor professionals" in texts(calls)[0]
    await driver.press(PARENT, "Bevestigen")
    assert registrations(driver) == [(PARENT, "Anna", "ouder", "registered")]


async def test_a_strict_activity_refuses_the_other_audience(driver: BotDriver) -> None:
    calls = await driver.say(PARENT, "/start signup_masterclass-strikt")
    assert "Alleen voor professionals" in texts(calls)[0]
    calls = await driver.press(PARENT, "Ouder")
    [said] = texts(calls)
    assert "alleen voor professionals" in said and "als ouder" in said
    assert "ouder of als professional" in said  # the role is asked again
    # A returning parent taking over their answers is refused at the same point.
    await sign_up(driver, OTHER, "schone-lei-den-haag")
    await driver.say(OTHER, "/start signup_masterclass-strikt")
    calls = await driver.press(OTHER, "Ja, klopt")
    assert "alleen voor professionals" in texts(calls)[0]
    # A professional may.
    await driver.press(PARENT, "Professional")
    await driver.press(PARENT, "Jeugdhulp")
    await driver.say(PARENT, "Anna")
    await driver.press(PARENT, "Overslaan")
    await driver.press(PARENT, "Geen vraag")
    await driver.press(PARENT, "akkoord")
    await driver.press(PARENT, "Bevestigen")
    assert (PARENT, "Anna", "professional", "registered") in registrations(driver)


async def test_storage_enforces_a_strict_audience(driver: BotDriver, clock: FakeClock) -> None:
    parent = SignupDetails("Anna", Role.OUDER, None, None, None)
    pro = SignupDetails("Piet", Role.PROFESSIONAL, None, None, None)
    with driver.services.db.session() as session:
        strict = get_activity(session, "masterclass-strikt")
        open_one = get_activity(session, "masterclass-open")
        assert strict is not None and open_one is not None
        assert strict.audience_strict and not open_one.audience_strict
        assert availability(session, strict, 1, clock()).outcome is Outcome.REGISTERED
        check = availability(session, strict, 1, clock(), role=Role.OUDER)
        assert check.outcome is Outcome.WRONG_AUDIENCE
        result = register(session, strict.id, 1, parent, clock(), join_waitlist=True)
        assert result.outcome is Outcome.WRONG_AUDIENCE
        result = register(session, open_one.id, 1, parent, clock(), join_waitlist=True)
        assert result.outcome is Outcome.REGISTERED
        result = register(session, strict.id, 2, pro, clock(), join_waitlist=True)
        assert result.outcome is Outcome.REGISTERED


# -- 4. returning users ----------------------------------------------------------------------


async def test_returning_user_is_asked_the_question_for_this_activity(driver: BotDriver) -> None:
    await sign_up(driver, PARENT, "schone-lei-arnhem", "Bram")
    await driver.say(PARENT, "/start signup_schone-lei-den-haag")
    calls = await driver.press(PARENT, "Ja, klopt")
    assert "vraag of opmerking" in texts(calls)[0]
    calls = await driver.press(PARENT, "← Terug")
    assert "Zal ik je aanmelden als" in texts(calls)[0]
    await driver.press(PARENT, "Ja, klopt")
    calls = await driver.say(PARENT, "Kan ik later komen?")
    summary = texts(calls)[0]
    assert "Klopt dit?" in summary and "Kan ik later komen?" in summary  # no consent step
    await driver.press(PARENT, "Bevestigen")
    with driver.services.db.session() as session:
        questions = session.scalars(select(Registration.question)).all()
    assert sorted(q or "" for q in questions) == ["", "Kan ik later komen?"]


# -- 5. calendar file --------------------------------------------------------------------------


async def test_calendar_file_carries_place_link_and_a_growing_sequence(
    driver: BotDriver, clock: FakeClock, activities_file: Path
) -> None:
    calls = await sign_up(driver, PARENT, "schone-lei-arnhem")
    event = event_of(documents(calls)[0])
    description = str(event["description"])
    assert "Opnieuw ontwerpen." in description
    assert "Adres: Karakter, Arnhem" in description
    assert "https://t.me/mao_test_bot?start=signup_schone-lei-arnhem" in description
    first_sequence = int(str(event["sequence"]))

    calls = await sign_up_again(driver, PARENT, "ouderavond")
    online = str(event_of(documents(calls)[0])["description"])
    assert f"Online meedoen: {JOIN_URL}" in online and "Adres" not in online

    clock.advance(timedelta(hours=1))
    move(driver, "schone-lei-arnhem", activities_file, datetime(2027, 5, 25, 14, 0))
    moved = documents(await driver.deliver_owed())
    [update] = [d for d in moved if d.chat_id == PARENT]
    updated = event_of(update)
    assert str(updated["uid"]) == str(event["uid"])
    assert int(str(updated["sequence"])) > first_sequence
    assert updated.decoded("dtstart").day == 25


# -- 6. the meeting link of an online activity ----------------------------------------------


async def test_join_link_arrives_before_the_start_and_only_for_a_seat(
    driver: BotDriver, clock: FakeClock
) -> None:
    await sign_up(driver, PARENT, "ouderavond")
    await sign_up(driver, OTHER, "ouderavond")
    await driver.say(OTHER, "/mijnaanmeldingen")
    await driver.press(OTHER, "Afmelden")
    await driver.press(OTHER, "Ja, afmelden")
    start = datetime(2027, 3, 10, 18, 0, tzinfo=UTC)  # 19:00 in the Netherlands
    clock.moment = start - timedelta(minutes=31)
    await driver.deliver_owed()
    assert await driver.messages_to(PARENT, "online mee te doen", limit_seconds=0.3) == []
    clock.moment = start - timedelta(minutes=30)
    await driver.deliver_owed()
    [link] = await driver.messages_to(PARENT, "online mee te doen")
    assert "https://example.org/meet?id=1&amp;x=2" in link.params["text"]
    assert await driver.messages_to(OTHER, "online mee te doen", limit_seconds=0.3) == []


async def test_a_late_sign_up_gets_the_link_at_once(driver: BotDriver, clock: FakeClock) -> None:
    clock.moment = datetime(2027, 3, 10, 17, 50, tzinfo=UTC)  # ten minutes before
    calls = await sign_up(driver, PARENT, "ouderavond")
    assert any("online mee te doen" in t for t in texts(calls))


async def test_join_link_follows_a_move(
    driver: BotDriver, clock: FakeClock, activities_file: Path
) -> None:
    await sign_up(driver, PARENT, "ouderavond")
    move(driver, "ouderavond", activities_file, datetime(2027, 3, 17, 19, 0))
    with driver.services.db.session() as session:
        rows = session.execute(
            select(OutboxMessage.due_at, OutboxMessage.status).where(
                OutboxMessage.kind == OutboxKind.JOIN_LINK
            )
        ).all()
    assert sorted((due, status) for due, status in rows) == [
        (datetime(2027, 3, 10, 17, 30, tzinfo=UTC), OutboxStatus.DROPPED),
        (datetime(2027, 3, 17, 17, 30, tzinfo=UTC), OutboxStatus.PENDING),
    ]


def spec(slug: str = "online", **extra: object) -> ActivitySpec:
    values: dict[str, object] = {
        "slug": slug,
        "kind": "dialoog",
        "title": {"nl": "Online", "en": "Online"},
        "starts_at": datetime(2027, 3, 10, 19, 0),
        "ends_at": datetime(2027, 3, 10, 20, 0),
        "online_url": JOIN_URL,
    }
    values.update(extra)
    return ActivitySpec.model_validate(values)


def owed(db: Database, kind: OutboxKind) -> list[tuple[int, datetime, str]]:
    with db.session() as session:
        rows = session.execute(
            select(OutboxMessage.user_id, OutboxMessage.due_at, OutboxMessage.status).where(
                OutboxMessage.kind == kind
            )
        ).all()
    return sorted((r[0], r[1], r[2]) for r in rows)


def test_join_link_offset_is_a_value_and_zero_sends_none(db_url: str) -> None:
    db = Database(db_url)
    db.upgrade()
    now = datetime(2027, 3, 1, 9, tzinfo=UTC)
    person = SignupDetails("Anna", Role.OUDER, None, None, None)
    with db.session() as session:
        upsert_activities(session, (spec(),), ZONE, now)
        activity = get_activity(session, "online")
        assert activity is not None
        register(session, activity.id, 1, person, now, join_waitlist=True)
        register(
            session, activity.id, 2, person, now, join_waitlist=True, join_link_before=timedelta(0)
        )
        register(
            session,
            activity.id,
            3,
            person,
            now,
            join_waitlist=True,
            join_link_before=timedelta(minutes=15),
        )
    assert owed(db, OutboxKind.JOIN_LINK) == [
        (3, datetime(2027, 3, 10, 17, 45, tzinfo=UTC), OutboxStatus.PENDING)
    ]
    db.dispose()


def test_reminders_come_back_with_a_seat_taken_again_and_an_unchanged_offset(
    db_url: str,
) -> None:
    """A dropped message gives up its dedupe key: planning the same moment again owes it."""
    db = Database(db_url)
    db.upgrade()
    now = datetime(2027, 3, 1, 9, tzinfo=UTC)
    person = SignupDetails("Anna", Role.OUDER, None, None, None)
    with db.session() as session:
        upsert_activities(session, (spec(reminders=["2d", "2h"]),), ZONE, now)
        activity = get_activity(session, "online")
        assert activity is not None
        result = register(session, activity.id, 1, person, now, join_waitlist=True)
        assert result.registration_id is not None
        cancel_registration(session, result.registration_id, 1, now)
        register(session, activity.id, 1, person, now, join_waitlist=True)
    assert [s for _, _, s in owed(db, OutboxKind.REMINDER)].count(OutboxStatus.PENDING) == 2
    with db.session() as session:
        upsert_activities(session, (spec(reminders=["2d", "1h"]),), ZONE, now)
    pending = [due for _, due, s in owed(db, OutboxKind.REMINDER) if s == OutboxStatus.PENDING]
    assert sorted(pending) == [
        datetime(2027, 3, 8, 18, 0, tzinfo=UTC),  # the 2-day reminder, still owed
        datetime(2027, 3, 10, 17, 0, tzinfo=UTC),
    ]
    db.dispose()


# -- 7. after cancelling -----------------------------------------------------------------------


async def test_after_cancelling_other_dates_of_the_same_kind_are_offered(
    driver: BotDriver,
) -> None:
    await sign_up(driver, PARENT, "schone-lei-arnhem")
    await driver.say(PARENT, "/mijnaanmeldingen")
    await driver.press(PARENT, "Afmelden")
    calls = await driver.press(PARENT, "Ja, afmelden")
    assert "Je bent afgemeld" in texts(calls)[0]
    assert "andere datum" in texts(calls)[-1]
    assert labels(driver, PARENT) == ["Schone Lei · di 22 jun · Den Haag"]
    calls = await driver.press(PARENT, "Den Haag")
    assert "Zal ik je aanmelden als" in texts(calls)[-1]
    # Nothing else of its kind: nothing offered.
    await driver.say(PARENT, "/annuleer")
    await sign_up_again(driver, PARENT, "ouderavond")
    await driver.say(PARENT, "/mijnaanmeldingen")
    await driver.press(PARENT, "Afmelden")
    calls = await driver.press(PARENT, "Ja, afmelden")
    assert not any("andere datum" in t for t in texts(calls))


# -- 8. times as the Netherlands shows them -------------------------------------------------


def test_times_without_zone_unless_asked() -> None:
    start = datetime(2027, 5, 18, 12, 0, tzinfo=UTC)
    end = start + timedelta(hours=2)
    assert format_period(start, end, "nl", ZONE) == "dinsdag 18 mei 2027, 14:00–16:00"
    assert (
        format_period(start, end, "en", ZONE, with_zone=True)
        == "Tuesday 18 May 2027, 14:00–16:00 (CEST)"
    )


async def test_dutch_readers_see_no_zone_english_readers_do(driver: BotDriver) -> None:
    agenda = texts(await driver.say(PARENT, "/agenda"))[0]
    assert "woensdag 10 maart 2027, 19:00–20:30\n" in agenda
    assert "CET" not in agenda and "CEST" not in agenda
    driver.languages[PRO] = "en"
    agenda = texts(await driver.say(PRO, "/events"))[0]
    assert "Wednesday 10 March 2027, 19:00–20:30 (CET)" in agenda


# -- 9. the fallback ---------------------------------------------------------------------------


async def test_the_fallback_points_to_help_and_agenda(driver: BotDriver) -> None:
    answer = texts(await driver.say(PARENT, "hoe laat is het in Tokio"))[0]
    assert "/help" in answer and "/agenda" in answer and "metandereogen@vng.nl" in answer
    english = Catalogue.load().text("en", "faq_fallback", email="e", website="w")
    assert "/help" in english and "/events" in english
