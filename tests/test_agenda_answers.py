"""Answers from the agenda: questions about an activity answered from its data, with a working
"Aanmelden" button; the FAQ keeps the questions it answers well."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
import yaml
from conftest import SHARED, FakeClock, texts
from sqlalchemy import event, select

from bot.offline.driver import BotDriver, buttons_of
from core import callbacks
from core.agenda_answers import Aspect, find, read_question
from core.dates import format_period
from storage.activities import (
    ActivityInfo,
    ActivitySpec,
    get_activity,
    upcoming_activities,
    upsert_activities,
)
from storage.models import Registration
from storage.registrations import SignupDetails, register
from storage.users import touch_user
from storage.vocabulary import Role

PARENT, OTHER = 4101, 4102
FAQ_DEV = SHARED / "faq-dev.yaml"


def spec(slug: str, kind: str, nl: str, en: str, starts: datetime, **extra: Any) -> ActivitySpec:
    values: dict[str, Any] = {
        "slug": slug,
        "kind": kind,
        "title": {"nl": nl, "en": en},
        "starts_at": starts,
        "ends_at": starts + timedelta(hours=2),
        "reminders": [],
    }
    if "online_url" not in extra:
        values["location"] = "Karakter, Arnhem"
    values.update(extra)
    return ActivitySpec.model_validate(values)


def seed(driver: BotDriver, clock: FakeClock) -> dict[str, int]:
    """An agenda like the programme's: a masterclass, an online dialogue, two Schone Lei work
    sessions, two fieldlabs, an example, one cancelled and one over."""
    now = clock()
    day = timedelta(days=1)
    specs = (
        spec(
            "masterclass-netwerkregie",
            "masterclass",
            "Masterclass Netwerkregie",
            "Masterclass Network direction",
            now + 30 * day,
            capacity=2,
        ),
        spec(
            "dialoog-thuiszitters",
            "dialoog",
            "Dialoog thuiszitters",
            "Dialogue: children out of school",
            now + 20 * day,
            online_url="https://example.org/dialoog",
            audience="ouders",
        ),
        spec(
            "schone-lei-arnhem",
            "werksessie",
            "Schone Lei werksessie – Arnhem",
            "Schone Lei work session – Arnhem",
            now + 40 * day,
            capacity=10,
        ),
        spec(
            "schone-lei-den-haag",
            "werksessie",
            "Schone Lei werksessie – Den Haag",
            "Schone Lei work session – The Hague",
            now + 45 * day,
            location="OCW, Den Haag",
            capacity=10,
        ),
        spec("fieldlab-noord", "fieldlab", "Fieldlab Noord", "Fieldlab North", now + 10 * day),
        spec("fieldlab-zuid", "fieldlab", "Fieldlab Zuid", "Fieldlab South", now + 50 * day),
        spec(
            "cop-afspraken",
            "community-of-practice",
            "Community of Practice Langdurig bindende afspraken",
            "Community of Practice Long-term binding agreements",
            now + 60 * day,
            sample=True,
        ),
        spec(
            "doen-dag-oud",
            "doen-dag",
            "Doen-dag",
            "Doing day",
            now - 30 * day,
        ),
        spec(
            "werksessie-geannuleerd",
            "werksessie",
            "Werksessie inspiratienetwerk",
            "Inspiration network work session",
            now + 15 * day,
            status="cancelled",
        ),
    )
    services = driver.services
    with services.db.session() as session:
        upsert_activities(session, specs, services.config.zone, now)
        ids = {}
        for item in specs:
            found = get_activity(session, item.slug)
            assert found is not None
            ids[item.slug] = found.id
    return ids


def when(driver: BotDriver, slug: str, language: str = "nl") -> str:
    """The date and time as the agenda writes them."""
    with driver.services.db.session() as session:
        activity = get_activity(session, slug)
    assert activity is not None
    zone = driver.services.config.zone
    return format_period(activity.starts_at, activity.ends_at, language, zone)


def last_buttons(driver: BotDriver, user: int) -> list[tuple[str, str]]:
    message = driver.latest_message(user)
    assert message is not None
    return buttons_of(message)


# -- reading the question (no database) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "aspects", "kinds"),
    [
        ("wanneer is de masterclass netwerkregie", {Aspect.WHEN}, {"masterclass"}),
        ("is de dialoog online", {Aspect.ONLINE}, {"dialoog"}),
        ("zijn er nog plekken bij de schone lei", {Aspect.SEATS}, set()),
        ("waar is de werksessie", {Aspect.WHERE}, {"werksessie"}),
        ("hoe laat begint de masterclas", {Aspect.WHEN}, {"masterclass"}),
        ("wanneer is er weer een feildlab?", {Aspect.WHEN}, {"fieldlab"}),
        ("when is the next community of practice", {Aspect.WHEN}, {"community-of-practice"}),
        ("is de CoP ook voor ouders?", {Aspect.AUDIENCE}, {"community-of-practice"}),
        ("hoe meld ik me aan voor de doendag", {Aspect.SIGNUP}, {"doen-dag"}),
        ("wat is een fieldlab", set(), {"fieldlab"}),
    ],
)
def test_reading_what_a_question_asks(
    question: str, aspects: set[Aspect], kinds: set[str]
) -> None:
    read = read_question(question)
    assert read.aspects == aspects
    assert read.kinds == kinds


async def test_which_activities_a_question_means(driver: BotDriver, clock: FakeClock) -> None:
    seed(driver, clock)
    with driver.services.db.session() as session:
        upcoming = upcoming_activities(session, clock())

    def slugs(question: str, follow_up: bool = False) -> list[str] | None:
        found = find(read_question(question), upcoming, follow_up=follow_up)
        return None if found is None else [a.slug for a in found.activities]

    assert slugs("wanneer is de masterclass netwerkregie") == ["masterclass-netwerkregie"]
    assert slugs("wanneer is de masterclas netwerkregi?") == ["masterclass-netwerkregie"]
    assert slugs("zijn er nog plekken bij de schone lei") == [
        "schone-lei-arnhem",
        "schone-lei-den-haag",
    ]
    assert slugs("waar is de schone lei in den haag") == ["schone-lei-den-haag"]
    assert slugs("wanneer is er weer een fieldlab") == ["fieldlab-noord", "fieldlab-zuid"]
    assert slugs("wanneer is de doen-dag") == []  # named, none upcoming: said honestly
    # Not about the agenda: what a thing is, a lone title word, a bare sign-up question.
    assert slugs("wat is een fieldlab") is None
    assert slugs("wanneer is een kind een thuiszitter") is None
    assert slugs("hoe laat is het in Tokio") is None
    assert slugs("ik wil me aanmelden voor de masterclass, hoe doe ik dat?") is None
    # What was, what the agenda does not know, what a thing is about, a story.
    assert slugs("wat waren die online dialoogbijeenkomsten van eind 2020?") is None
    assert slugs("is de locatie bij ocw in den haag rolstoeltoegankelijk") is None
    assert slugs("is there parking near the venue in den haag") is None
    assert slugs("how much does it cost to attend a Schone Lei session?") is None
    assert slugs("masterclass netwerkregie, waar gaat dat over?") is None
    assert slugs("moet mijn werkgever me tijd geven als ik in een fieldlab meedoe?") is None
    story = (
        "Ik heb me aangemeld voor de werksessie en ik wil zeker niet vergeten dat die eraan "
        "komt, want ik ben nogal chaotisch. Wanneer krijg ik een herinnering?"
    )
    assert slugs(story) is None
    # A specific activity's sign-up is the agenda's: the answer carries the button.
    assert slugs("kan ik me via deze bot opgeven voor schone lei in arnhem") == [
        "schone-lei-arnhem"
    ]
    # ... unless it follows right after that kind was discussed.
    assert slugs("hoe meld ik me aan voor de masterclass", follow_up=True) == [
        "masterclass-netwerkregie"
    ]


def _answered_dev_questions(driver: BotDriver) -> list[tuple[str, str]]:
    if not FAQ_DEV.exists():
        pytest.skip(f"{FAQ_DEV} is not there (the shared folder is not checked out)")
    questions = yaml.safe_load(FAQ_DEV.read_text(encoding="utf-8"))["questions"]
    matcher = driver.services.matcher
    answered = []
    for item in questions:
        result = matcher.match(item["q"])
        if result.answer_id is not None:
            answered.append((str(item["q"]), result.answer_id))
    assert len(answered) > 30
    return answered


async def test_agenda_answers_do_not_take_the_faqs_answers(
    driver: BotDriver, clock: FakeClock
) -> None:
    """Every dev-set question the FAQ answers keeps its answer, with a full agenda."""
    seed(driver, clock)
    for number, (question, entry_id) in enumerate(_answered_dev_questions(driver)):
        entry = driver.services.faq.entry(entry_id)
        assert entry is not None
        # A new user each: no earlier topic to follow up on.
        calls = await driver.say(5000 + number, question)
        shown = texts(calls)
        assert shown, question
        # In the language of the question (English ones are answered in English).
        assert any(
            entry.nl.answer[:60] in text or entry.en.answer[:60] in text for text in shown
        ), question


# -- through the bot ---------------------------------------------------------------------


async def test_when_question_gets_the_date_and_a_working_signup_button(
    driver: BotDriver, clock: FakeClock
) -> None:
    ids = seed(driver, clock)
    answer = texts(await driver.say(PARENT, "wanneer is de masterclass netwerkregie?"))[0]
    date = when(driver, "masterclass-netwerkregie")
    assert "Masterclass Netwerkregie" in answer and date in answer
    assert "Nog 2 plekken vrij" in answer
    # The same date as /agenda shows.
    agenda = "\n".join(texts(await driver.say(OTHER, "/agenda")))
    assert date in agenda
    buttons = last_buttons(driver, PARENT)
    signup = [(label, data) for label, data in buttons if label.startswith("Aanmelden")]
    assert signup == [
        (
            "Aanmelden: Masterclass Netwerkregie",
            callbacks.SIGNUP_PICK.data(activity=ids["masterclass-netwerkregie"]),
        )
    ]
    # Pressing it starts the sign-up for that very activity.
    calls = await driver.press(PARENT, "Aanmelden")
    shown = "\n".join(texts(calls))
    assert "Masterclass Netwerkregie" in shown
    assert any("Ouder" in label for label, _ in last_buttons(driver, PARENT))
    await driver.press(PARENT, "Ouder")
    await driver.say(PARENT, "Anna de Vries")
    await driver.press(PARENT, "Overslaan")
    await driver.press(PARENT, "Geen vraag")
    await driver.press(PARENT, "akkoord")
    calls = await driver.press(PARENT, "Bevestigen")
    assert "Je bent aangemeld" in "\n".join(texts(calls))
    with driver.services.db.session() as session:
        rows = session.execute(select(Registration.activity_id, Registration.user_id)).all()
    assert [tuple(r) for r in rows] == [(ids["masterclass-netwerkregie"], PARENT)]
    # Asked again, the answer says the user has a place, and offers no second sign-up.
    answer = texts(await driver.say(PARENT, "hoe laat begint de masterclass netwerkregie"))[0]
    assert "Je bent aangemeld" in answer and "Nog 1 plek vrij" in answer
    assert not any(label.startswith("Aanmelden") for label, _ in last_buttons(driver, PARENT))


async def test_online_seats_place_and_audience(driver: BotDriver, clock: FakeClock) -> None:
    seed(driver, clock)
    answer = texts(await driver.say(PARENT, "is de dialoog online?"))[0]
    assert answer.startswith("Ja, deze activiteit is online.")
    # The meeting link is for people with a seat (issue 17): the answer says so.
    assert "https://example.org/dialoog" not in answer and "Voor ouders" in answer
    assert "Online (de link krijg je na aanmelding)" in answer
    assert when(driver, "dialoog-thuiszitters") in answer

    answer = texts(await driver.say(PARENT, "is de masterclass netwerkregie online"))[0]
    assert answer.startswith("Nee, deze activiteit is niet online")
    assert "Karakter, Arnhem" in answer

    # Two Schone Lei sessions: both, with their dates and seats, each with a button.
    answer = texts(await driver.say(PARENT, "zijn er nog plekken bij de schone lei"))[0]
    assert when(driver, "schone-lei-arnhem") in answer
    assert when(driver, "schone-lei-den-haag") in answer
    assert answer.count("Nog 10 plekken vrij") == 2
    labels = [label for label, _ in last_buttons(driver, PARENT)]
    assert len(labels) == 2 and all("Schone Lei" in label for label in labels)

    answer = texts(await driver.say(PARENT, "waar is de schone lei in den haag"))[0]
    assert "OCW, Den Haag" in answer and "Arnhem" not in answer


async def test_a_full_activity_offers_the_waiting_list(
    driver: BotDriver, clock: FakeClock
) -> None:
    ids = seed(driver, clock)
    with driver.services.db.session() as session:
        for user in (OTHER, OTHER + 1):
            touch_user(session, user, clock())
            details = SignupDetails(f"Deelnemer {user}", Role.OUDER, None, None, None)
            register(
                session,
                ids["masterclass-netwerkregie"],
                user,
                details,
                clock(),
                join_waitlist=True,
            )
    answer = texts(await driver.say(PARENT, "zijn er nog plekken bij de masterclass?"))[0]
    assert answer.startswith("Nee, deze activiteit is vol")
    labels = [label for label, _ in last_buttons(driver, PARENT)]
    assert labels == ["Wachtlijst: Masterclass Netwerkregie"]


async def test_a_kind_lists_the_upcoming_ones_or_says_there_are_none(
    driver: BotDriver, clock: FakeClock
) -> None:
    ids = seed(driver, clock)
    answer = texts(await driver.say(PARENT, "wanneer is er weer een fieldlab?"))[0]
    assert "Fieldlab Noord" in answer and "Fieldlab Zuid" in answer
    assert when(driver, "fieldlab-noord") in answer and when(driver, "fieldlab-zuid") in answer
    assert answer.index("Fieldlab Noord") < answer.index("Fieldlab Zuid")  # soonest first
    assert "/agenda" in answer
    data = [d for _, d in last_buttons(driver, PARENT)]
    assert data == [
        callbacks.SIGNUP_PICK.data(activity=ids["fieldlab-noord"]),
        callbacks.SIGNUP_PICK.data(activity=ids["fieldlab-zuid"]),
    ]
    # The one that is over is not "weer": none upcoming, said honestly.
    answer = texts(await driver.say(PARENT, "wanneer is de volgende doen dag"))[0]
    assert "geen Doen-dag in de agenda" in answer and "/agenda" in answer
    # A cancelled one is not offered: the work sessions still to come are.
    answer = texts(await driver.say(PARENT, "waar is de werksessie inspiratienetwerk"))[0]
    assert "inspiratienetwerk" not in answer and answer.count("Schone Lei") == 2


async def test_an_example_activity_takes_no_signup(driver: BotDriver, clock: FakeClock) -> None:
    seed(driver, clock)
    answer = texts(await driver.say(PARENT, "wanneer is de community of practice?"))[0]
    assert "Langdurig bindende afspraken" in answer and "Voorbeeld" in answer
    assert "aanmelden kan hier niet" in answer
    message = driver.latest_message(PARENT)
    assert message is not None and buttons_of(message) == []


async def test_english_question_is_answered_in_english(
    driver: BotDriver, clock: FakeClock
) -> None:
    seed(driver, clock)
    answer = texts(await driver.say(PARENT, "when is the masterclass network direction?"))[0]
    assert "Masterclass Network direction" in answer
    assert when(driver, "masterclass-netwerkregie", "en") in answer
    assert "Sign up" in last_buttons(driver, PARENT)[0][0]
    # The user's own setting is unchanged: the next Dutch question gets Dutch.
    answer = texts(await driver.say(PARENT, "waar is de masterclass netwerkregie"))[0]
    assert "Dit staat er in de agenda" in answer


def test_activity_info_titles_are_used_in_both_languages() -> None:
    """The English title words count too ("network direction")."""
    info = ActivityInfo(
        id=1,
        slug="x",
        kind="masterclass",
        title_nl="Masterclass Netwerkregie",
        title_en="Masterclass Network direction",
        description_nl="",
        description_en="",
        starts_at=datetime(2030, 1, 1),
        ends_at=datetime(2030, 1, 1, 2),
        location="Arnhem",
        online_url=None,
        capacity=None,
        registration_opens_at=None,
        registration_closes_at=None,
        audience="iedereen",
        audience_strict=False,
        status="published",
        waitlist_mode="auto",
        offer_hours=24,
        reminder_offsets=None,
        is_sample=False,
        updated_at=datetime(2030, 1, 1),
        taken=0,
        waiting=0,
    )
    found = find(read_question("where is the direction session?"), [info])
    assert found is not None and [a.id for a in found.activities] == [1]
    assert find(read_question("where do I find good examples?"), [info]) is None


async def test_agenda_answers_read_off_the_event_loop(driver: BotDriver, clock: FakeClock) -> None:
    """The agenda, the topic's activities and the user's own places are read through the
    database seam: a read on the event loop holds up every other user's answer."""
    seed(driver, clock)
    loop_thread = threading.get_ident()
    on_the_loop: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if threading.get_ident() == loop_thread:
            on_the_loop.append(statement)

    event.listen(driver.services.db.engine, "before_cursor_execute", note)
    try:
        answer = texts(await driver.say(PARENT, "wanneer is de masterclass netwerkregie?"))[0]
        follow_up = texts(await driver.say(PARENT, "en is die online?"))[0]
    finally:
        event.remove(driver.services.db.engine, "before_cursor_execute", note)
    assert "Masterclass Netwerkregie" in answer and follow_up
    assert on_the_loop == []
