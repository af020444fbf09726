"""What happens around an answer (issue 18): "Niet wat ik vroeg" under a straight answer,
known unknowns answered honestly, stories heard, the language of each message, and a
hand-over button that sends the question of the message it stands under."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from conftest import ADMIN_ID, FakeClock, texts
from sqlalchemy import select

from bot.offline.driver import BotDriver, buttons_of
from core.chat_reading import Route, read_message
from core.pending_questions import KEEP_FOR, PENDING_KEY
from faq.unknowns import Unknown, known_unknown
from storage.models import FaqMiss, FaqTopicCount
from storage.persistence_store import load_user_data

USER = 4801
NOT_IT = "Niet wat ik vroeg"
HANDOVER = "Stel je vraag aan het programmabureau"
KNOWN_UNKNOWN = "Daar staat niets over in wat ik van MAO weet. Het programmabureau weet het wel:"


def labels(message: dict[str, Any] | None) -> list[str]:
    return [label for label, _ in buttons_of(message or {})]


def data_of(message: dict[str, Any] | None, label: str) -> str:
    return next(data for text, data in buttons_of(message or {}) if label in text)


async def test_not_what_i_asked_offers_the_next_topics_and_counts_for_the_topic(
    driver: BotDriver,
) -> None:
    entry = driver.services.faq.entry("fieldlab")
    assert entry is not None
    answer = texts(await driver.say(USER, "wat is een fieldlab precies?"))[0]
    assert answer.startswith(entry.nl.answer)
    message = driver.latest_message(USER)
    assert labels(message)[-1] == NOT_IT
    calls = await driver.press_data(USER, data_of(message, NOT_IT), message)
    assert texts(calls)[-1].startswith("Sorry dat dit niet je vraag was.")
    offered = labels(driver.latest_message(USER))
    assert offered[-1] == HANDOVER and 2 <= len(offered) <= 4
    # A double tap changes nothing: counted once, one miss.
    assert texts(await driver.press_data(USER, data_of(message, NOT_IT), message)) == []
    with driver.services.db.session() as session:
        counts = {
            (row.entry_id, row.outcome): row.count
            for row in session.scalars(select(FaqTopicCount))
        }
        misses = [(m.question, m.rejected_id) for m in session.scalars(select(FaqMiss))]
    assert counts == {("fieldlab", "answered"): 1, ("fieldlab", "rejected"): 1}
    assert misses == [("wat is een fieldlab precies?", "fieldlab")]
    stats = "\n".join(texts(await driver.say(ADMIN_ID, "/cijfers")))
    assert f"• {entry.nl.question}: 1 van 1 antwoorden (100%)" in stats
    gaps = "\n".join(texts(await driver.say(ADMIN_ID, "/faqgaps")))
    assert "wat is een fieldlab precies?" in gaps
    assert f"kreeg het antwoord over «{entry.nl.question}»" in gaps
    # The hand-over from there sends this question.
    await driver.press(USER, HANDOVER)
    preview = texts(driver.standin.calls[-1:])[-1]
    assert "wat is een fieldlab precies?" in preview


async def test_not_what_i_asked_keeps_contact_details_out_of_the_miss_list(
    driver: BotDriver,
) -> None:
    await driver.say(USER, "wat is een fieldlab 0612345678")
    message = driver.latest_message(USER)
    assert NOT_IT in labels(message)
    await driver.press_data(USER, data_of(message, NOT_IT), message)
    with driver.services.db.session() as session:
        assert session.scalars(select(FaqMiss)).all() == []
        assert [r.outcome for r in session.scalars(select(FaqTopicCount))] == [
            "answered",
            "rejected",
        ]


@pytest.mark.parametrize(
    "question",
    ["kost het geld?", "is het gratis?", "waar zijn de bijeenkomsten? ik woon in zwolle"],
)
async def test_known_unknowns_get_an_honest_answer_with_the_handover(
    driver: BotDriver, question: str
) -> None:
    answer = texts(await driver.say(USER, question))[-1]
    assert answer.startswith(KNOWN_UNKNOWN)
    assert "metandereogen@vng.nl" in answer and "🙈" not in answer
    assert labels(driver.latest_message(USER)) == [HANDOVER]


async def test_known_unknowns_in_english(driver: BotDriver) -> None:
    answer = texts(await driver.say(USER, "how much does it cost to join?"))[-1]
    assert answer.startswith("There is nothing about that in what I know about MAO.")
    assert labels(driver.latest_message(USER)) == ["Ask the programme office"]


def test_out_of_scope_stays_declined_and_who_pays_is_answered(driver: BotDriver) -> None:
    matcher = driver.services.matcher
    for question in ("wat voor weer wordt het morgen", "wie is de beste voetballer"):
        reading = read_message(question, matcher, activities=list)
        assert reading.route is Route.FALLBACK, question
    reading = read_message("wie betaalt met andere ogen?", matcher, activities=list)
    assert reading.route is Route.ANSWER and reading.entry_id == "opdrachtgevers"


STORY = (
    "Mijn zoon van tien zit al een paar maanden thuis. Hij heeft autisme en de school zegt "
    "dat ze hem niet meer kunnen helpen. We praten met de gemeente en de jeugdzorg, maar "
    "niemand pakt het op en wij zijn echt moe. Doet Met Andere Ogen iets voor thuiszitters?"
)


async def test_a_story_is_acknowledged_first_and_can_go_to_a_person(driver: BotDriver) -> None:
    calls = await driver.say(USER, STORY)
    said = texts(calls)
    assert said[0].startswith("Dank je wel dat je dit met me deelt.")
    assert len(said) >= 2
    acknowledgement = next(
        c.params for c in calls if c.method == "sendMessage" and "deelt" in c.params["text"]
    )
    [(label, data)] = buttons_of(acknowledgement)
    assert label == HANDOVER
    await driver.press_data(USER, data)
    preview = texts(driver.standin.calls[-1:])[-1]
    assert "Mijn zoon van tien zit al een paar maanden thuis." in preview


async def test_english_question_from_a_dutch_user_is_answered_in_english(
    driver: BotDriver,
) -> None:
    entry = driver.services.faq.entry("contact")
    assert entry is not None
    answer = texts(await driver.say(USER, "I'd like to email someone at MAO, which address?"))
    assert answer[0].startswith(entry.en.answer)


async def test_the_handover_under_an_older_message_sends_that_question(
    driver: BotDriver,
) -> None:
    await driver.say(USER, "hoe laat is het in Tokio")
    older = driver.latest_message(USER)
    await driver.say(USER, "wie wint het songfestival")
    assert older is not None and labels(older) == [HANDOVER]
    await driver.press_data(USER, data_of(older, HANDOVER), older)
    preview = texts(driver.standin.calls[-1:])[-1]
    assert "hoe laat is het in Tokio" in preview
    assert "songfestival" not in preview


async def test_kept_questions_go_after_a_day_and_show_in_my_data(
    driver: BotDriver, clock: FakeClock
) -> None:
    await driver.say(USER, "hoe laat is het in Tokio")
    message = driver.latest_message(USER)
    mine = "\n".join(texts(await driver.say(USER, "/mijngegevens")))
    assert (
        "Vragen die ik onthoud voor de knoppen onder mijn antwoorden (hooguit 24 uur): 1" in mine
    )
    clock.advance(KEEP_FOR + timedelta(minutes=1))
    await driver.run_job("retention")
    assert driver.application is not None
    assert PENDING_KEY not in driver.application.user_data[USER]
    calls = await driver.press_data(USER, data_of(message, HANDOVER), message)
    assert "Tokio" not in "\n".join(texts(calls))


async def test_kept_questions_of_someone_who_never_returns_go_after_a_day(
    driver: BotDriver, clock: FakeClock
) -> None:
    await driver.say(USER, "hoe laat is het in Tokio")
    assert driver.application is not None
    # Another instance, or this one after a restart: the data is only in the table.
    driver.application.user_data[USER].clear()
    with driver.services.db.session() as session:
        assert PENDING_KEY in load_user_data(session)[USER]
    clock.advance(KEEP_FOR + timedelta(minutes=1))
    await driver.run_job("retention")
    with driver.services.db.session() as session:
        assert PENDING_KEY not in load_user_data(session).get(USER, {})
        assert "Tokio" not in repr(load_user_data(session))


@pytest.mark.parametrize(
    ("question", "unknown"),
    [
        ("kost het geld?", Unknown.COSTS),
        ("how much does it cost to join a fieldlab", Unknown.COSTS),
        ("is there parking near the venue", Unknown.PARKING),
        ("is er kinderopvang tijdens de dialoogavond", Unknown.ARRANGEMENTS),
        ("wie is de wethouder jeugd in Den Haag?", Unknown.PERSON),
        ("waar zijn de bijeenkomsten? ik woon in zwolle", Unknown.PLACE),
        ("wie betaalt met andere ogen?", None),
        ("zijn er nog gratis plekken bij de dialoog", None),
        ("I'm free most evenings in June, which events are there?", None),
        ("hoeveel tijd kost een fieldlab?", None),
        ("Ik ben wethouder jeugd, wat kan mijn gemeente met MAO?", None),
        ("ik werk in de kinderopvang, is er een sessie voor mij?", None),
    ],
)
def test_known_unknowns_are_told_from_questions_the_faq_answers(
    question: str, unknown: Unknown | None
) -> None:
    assert known_unknown(question) == unknown
