"""What one FAQ question costs the database: any update may go to any instance, so the
user's state is read before it and written after it; that read and that write are all
(issue 20 §4). The answer statistics ride along in the write; the FAQ additions are looked
at by a question at most every CHECK_EVERY."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import FakeClock, texts
from sqlalchemy import event, select

from bot.offline.driver import BotDriver
from core.faq_live import CHECK_EVERY
from handlers import faq as faq_handlers
from handlers.faq import TOPIC_KEY
from jobs.outbox import outbox_of
from storage.db import READ_ONLY, Database
from storage.faq_misses import ANSWERED, band_counts, count_band, count_topic
from storage.models import FaqCount, FaqTopicCount
from storage.persistence_store import load_user_state, save_user_state

USER = 1001
QUESTION = "wat is een fieldlab"


def _answer(driver: BotDriver) -> str:
    entry = driver.services.faq.entry("fieldlab")
    assert entry is not None
    return entry.nl.answer


async def _transactions_of_a_question(driver: BotDriver) -> tuple[list[str], list[str]]:
    """The transactions (read or write) one question opens, and the bot's answer."""
    opened: list[str] = []

    def begun(connection: Any) -> None:
        opened.append("read" if connection.get_execution_options().get(READ_ONLY) else "write")

    engine = driver.services.db.engine
    assert driver.application is not None
    event.listen(engine, "begin", begun)
    try:
        # The outbox's own rounds (nothing is owed here) wait until the question is done.
        async with outbox_of(driver.application).lock:
            answer = texts(await driver.say(USER, QUESTION))
    finally:
        event.remove(engine, "begin", begun)
    return sorted(opened), answer


def _counts(driver: BotDriver) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    with driver.services.db.session() as session:
        bands = {row.band: row.count for row in session.scalars(select(FaqCount))}
        topics = {
            (row.entry_id, row.outcome): row.count
            for row in session.scalars(select(FaqTopicCount))
        }
    return bands, topics


async def test_a_question_reads_once_and_writes_once_with_its_statistics(
    driver: BotDriver, clock: FakeClock
) -> None:
    # The first question of a new user also records them and looks at the FAQ additions.
    assert texts(await driver.say(USER, QUESTION))[0].startswith(_answer(driver))

    opened, answer = await _transactions_of_a_question(driver)

    assert answer[0].startswith(_answer(driver))
    assert opened == ["read", "write"]
    assert _counts(driver) == ({"answer": 2}, {("fieldlab", "answered"): 2})

    # After CHECK_EVERY a question looks at the additions again: one more read.
    clock.advance(CHECK_EVERY)
    opened, answer = await _transactions_of_a_question(driver)
    assert answer[0].startswith(_answer(driver))
    assert opened == ["read", "read", "write"]
    assert _counts(driver) == ({"answer": 3}, {("fieldlab", "answered"): 3})


async def test_a_failing_count_costs_the_user_neither_answer_nor_state(
    driver: BotDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> None:
        raise ValueError("a count that fails")

    monkeypatch.setattr(faq_handlers, "_count_answer", broken)
    assert texts(await driver.say(USER, QUESTION))[0].startswith(_answer(driver))
    with driver.services.db.reading() as session:
        stored = load_user_state(session, USER, [])
    assert stored.user_data is not None and stored.user_data[TOPIC_KEY]["id"] == "fieldlab"
    assert _counts(driver) == ({}, {})


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_statements_built_once_work_on_both_databases(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("db_url" if backend == "sqlite" else "postgres_url")
    db = Database(url)
    db.upgrade()
    now = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    ref = ("signup", (USER, USER))
    try:
        for day_data in ({"a": 1}, {"a": 2}):  # inserted, then updated
            with db.session() as session:
                save_user_state(session, USER, {ref: 3}, day_data, now)
                count_band(session, "answer", now.date())
                count_topic(session, "fieldlab", ANSWERED, now.date())
        with db.reading() as session:
            stored = load_user_state(session, USER, [ref, ("other", (USER, USER))])
            other = load_user_state(session, USER + 1, [])
        assert stored.user_data == {"a": 2} and other.user_data is None
        assert list(stored.conversations) == [ref] and stored.conversations[ref].state == 3
        with db.session() as session:
            assert band_counts(session, now.date()) == {"answer": 2}
            assert session.scalar(select(FaqTopicCount.count)) == 2
    finally:
        db.dispose()
