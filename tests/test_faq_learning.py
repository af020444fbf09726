"""A FAQ that learns: "Voeg toe aan FAQ" from /faqgaps and from an inbox thread, on every
instance at once, `mao-bot faq export`, and what organisers only may do."""

from __future__ import annotations

import math
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_process import run_cli
from conftest import ADMIN_ID, FakeClock, texts
from sqlalchemy import func, select

from bot.cli import main
from bot.offline.driver import BotDriver
from bot.offline.standin import ApiCall
from core import callbacks
from core.faq_live import CHECK_EVERY, group_misses
from handlers.faq_learning import TOPICS_PER_PAGE
from storage.db import Database
from storage.faq_additions import add_addition, additions_version, all_additions
from storage.faq_misses import StoredMiss, record_miss
from storage.models import FaqAddition, FaqMiss, InboxMessage, InboxThread

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "is er een whatsappgroep voor ouders?"
VARIANT = "is er ook een whatsapp groep voor ouders"
TOPIC = "ouders"
FALLBACK = "metandereogen@vng.nl"


def alerts(calls: list[ApiCall]) -> list[str]:
    return [
        str(c.params.get("text", ""))
        for c in calls
        if c.method == "answerCallbackQuery" and c.params.get("show_alert")
    ]


def shown(calls: list[ApiCall]) -> list[str]:
    """Texts sent or edited in."""
    return [
        str(c.params.get("text", ""))
        for c in calls
        if c.method in ("sendMessage", "editMessageText")
    ]


def answer_of(driver: BotDriver, entry_id: str) -> str:
    entry = driver.services.faq.entry(entry_id)
    assert entry is not None
    return entry.nl.answer


def additions(driver: BotDriver) -> list[tuple[str, str, str, int | None]]:
    with driver.services.db.session() as session:
        return [(a.entry_id, a.language, a.question, a.added_by) for a in all_additions(session)]


def miss_count(driver: BotDriver) -> int:
    with driver.services.db.session() as session:
        return int(session.scalar(select(func.count(FaqMiss.id))) or 0)


async def pick_topic(driver: BotDriver, entry_id: str) -> list[ApiCall]:
    picker = driver.latest_message_with_buttons(ADMIN_ID)
    assert picker is not None
    return await driver.press_data(ADMIN_ID, callbacks.FAQ_ADD_TOPIC.data(entry=entry_id), picker)


async def test_a_gap_added_is_answered_for_the_next_user_on_every_instance(
    driver: BotDriver, services_factory: Any, clock: FakeClock
) -> None:
    # A second instance over the same database file, running before the addition is made.
    async with BotDriver(services_factory) as second:
        assert FALLBACK in texts(await second.say(2001, QUESTION))[-1]
        assert FALLBACK in texts(await driver.say(1002, VARIANT))[-1]
        assert FALLBACK in texts(await driver.say(1001, QUESTION))[-1]
        with driver.services.db.session() as session:
            record_miss(
                session, "wat is <b>dit</b> & dat?", "nl", None, 0.0, driver.services.now()
            )

        gaps = texts(await driver.say(ADMIN_ID, "/faqgaps"))[-1]
        # The three similar questions are one group, largest first, text escaped.
        assert "<b>1.</b> 3× — «is er een whatsappgroep voor ouders?»" in gaps
        assert "1× — «wat is &lt;b&gt;dit&lt;/b&gt; &amp; dat?»" in gaps
        picker_calls = await driver.press(ADMIN_ID, "1. Voeg toe aan FAQ")
        assert "Bij welk onderwerp hoort deze vraag?" in texts(picker_calls)[-1]

        confirmation = shown(await pick_topic(driver, TOPIC))[-1]
        assert (
            "Toegevoegd: «is er een whatsappgroep voor ouders?» → «Hoe doen ouders mee in "
            "Met Andere Ogen?». Vanaf nu beantwoord ik deze vraag zo." in confirmation
        )
        assert "3 vragen uit /faqgaps zijn daarmee afgehandeld." in confirmation
        assert additions(driver) == [(TOPIC, "nl", QUESTION, ADMIN_ID)]
        assert miss_count(driver) == 1  # only the unrelated one is left

        # The next user, on this instance at once; on the other one (no restart) once it
        # looks again, at most CHECK_EVERY after its last look.
        assert answer_of(driver, TOPIC) in texts(await driver.say(1003, QUESTION))[-1]
        clock.advance(CHECK_EVERY)
        assert answer_of(second, TOPIC) in texts(await second.say(2002, QUESTION))[-1]
        assert "whatsapp" not in texts(await driver.say(ADMIN_ID, "/faqgaps"))[-1]


async def test_a_question_from_an_inbox_thread_with_paged_topics(driver: BotDriver) -> None:
    question = "Waar kan ik de verslagen van vorige bijeenkomsten teruglezen?"
    assert FALLBACK in texts(await driver.say(1001, question))[-1]
    now = driver.services.now()
    with driver.services.db.session() as session:
        thread = InboxThread(
            user_id=1001,
            first_name="Test",
            language="nl",
            kind="question",
            status="open",
            created_at=now,
            updated_at=now,
        )
        session.add(thread)
        session.flush()
        session.add(
            InboxMessage(thread_id=thread.id, direction="in", text=question, created_at=now)
        )
        thread_id = thread.id

    pages = math.ceil(len(driver.services.faq.ids) / TOPICS_PER_PAGE)
    calls = await driver.press_data(ADMIN_ID, callbacks.FAQ_ADD_THREAD.data(thread=thread_id))
    assert f"«{question}»" in texts(calls)[-1]
    assert f"Blad 1 van {pages}" in texts(calls)[-1]
    picker = driver.latest_message_with_buttons(ADMIN_ID)
    assert picker is not None
    calls = await driver.press_data(ADMIN_ID, callbacks.FAQ_ADD_PAGE.data(page=pages - 1), picker)
    assert f"Blad {pages} van {pages}" in shown(calls)[-1]
    confirmation = shown(await pick_topic(driver, "leren"))[-1]
    assert "→ «Waar vind ik goede voorbeelden en tools?»" in confirmation
    # The same question was also a miss: handled with it.
    assert "1 vraag uit /faqgaps is daarmee afgehandeld." in confirmation
    assert miss_count(driver) == 0
    assert answer_of(driver, "leren") in texts(await driver.say(1004, question))[-1]


async def test_only_organisers_may_add_or_see_gaps(driver: BotDriver) -> None:
    assert FALLBACK in texts(await driver.say(1001, QUESTION))[-1]
    with driver.services.db.session() as session:
        miss_id = session.scalar(select(func.max(FaqMiss.id)))
    refusal = "Sorry, dit kunnen alleen de organisatoren"
    assert refusal in texts(await driver.say(1001, "/faqgaps"))[-1]
    # In a private chat a refused button is answered like a refused command (the gate,
    # core/roles.py); in the organisers' group only with a pop-up.
    calls = await driver.press_data(1001, callbacks.FAQ_ADD_GAP.data(miss=miss_id))
    assert texts(calls) == [texts(calls)[0]] and refusal in texts(calls)[0]  # no topic picker
    calls = await driver.press_data(1001, callbacks.FAQ_ADD_TOPIC.data(entry=TOPIC))
    assert refusal in texts(calls)[0]
    assert additions(driver) == [] and miss_count(driver) == 1


async def test_stale_buttons_and_double_taps_change_nothing(driver: BotDriver) -> None:
    assert FALLBACK in texts(await driver.say(1001, QUESTION))[-1]
    await driver.say(ADMIN_ID, "/faqgaps")
    gaps = driver.latest_message_with_buttons(ADMIN_ID)
    assert gaps is not None
    add = callbacks.FAQ_ADD_GAP.data(
        miss=int(gaps["reply_markup"]["inline_keyboard"][0][0]["callback_data"].rsplit(":", 1)[1])
    )
    await driver.press_data(ADMIN_ID, add, gaps)
    first_picker = driver.latest_message_with_buttons(ADMIN_ID)
    await driver.press_data(ADMIN_ID, add, gaps)  # pressed twice: a second picker
    second_picker = driver.latest_message_with_buttons(ADMIN_ID)
    assert first_picker is not None and second_picker is not None
    assert first_picker["message_id"] != second_picker["message_id"]

    topic = callbacks.FAQ_ADD_TOPIC.data(entry=TOPIC)
    calls = await driver.press_data(ADMIN_ID, topic, first_picker)
    assert "Deze knop is verlopen" in alerts(calls)[0]
    assert additions(driver) == []
    calls = await driver.press_data(ADMIN_ID, topic, second_picker)
    assert "Toegevoegd:" in shown(calls)[-1]
    calls = await driver.press_data(ADMIN_ID, topic, second_picker)  # a double tap
    assert "Deze knop is verlopen" in alerts(calls)[0]
    assert len(additions(driver)) == 1
    # The group is handled: its button now says so, and offers no picker.
    calls = await driver.press_data(ADMIN_ID, add, gaps)
    assert "Deze vraag is er niet meer" in alerts(calls)[0] and texts(calls) == []

    # Cancelled: the picker's buttons do nothing afterwards.
    assert FALLBACK in texts(await driver.say(1001, "kan ik de verslagen teruglezen?"))[-1]
    await driver.say(ADMIN_ID, "/faqgaps")
    await driver.press(ADMIN_ID, "1. Voeg toe aan FAQ")
    picker = driver.latest_message_with_buttons(ADMIN_ID)
    assert picker is not None
    calls = await driver.press_data(ADMIN_ID, callbacks.FAQ_ADD_ABORT.data(), picker)
    assert "Niets toegevoegd." in shown(calls)[-1]
    calls = await driver.press_data(ADMIN_ID, callbacks.FAQ_ADD_TOPIC.data(entry="leren"), picker)
    assert "Deze knop is verlopen" in alerts(calls)[0]
    assert len(additions(driver)) == 1 and miss_count(driver) == 1


def test_similar_misses_are_grouped_largest_first() -> None:
    start = datetime(2027, 3, 1, tzinfo=UTC)
    questions = [
        "hoe laat begint de doen-dag",
        "is er een whatsappgroep voor ouders?",
        "hoe laat begint de doendag?",
        "Is er een WhatsApp-groep voor ouders",
        "is er een whatsapp groep voor ouders",
        "mao",
    ]
    misses = [
        StoredMiss(n, q, "nl", start + timedelta(minutes=n)) for n, q in enumerate(questions)
    ]
    groups = group_misses(misses)
    assert [g.count for g in groups] == [3, 2, 1]
    assert groups[0].example.question == "is er een whatsapp groep voor ouders"  # most recent
    assert set(groups[0].miss_ids) == {1, 3, 4}
    assert set(groups[1].miss_ids) == {0, 2}


def test_additions_are_stored_once_and_a_new_topic_replaces_the_old(db_url: str) -> None:
    database = Database(db_url)
    database.upgrade()
    at = datetime(2027, 3, 1, tzinfo=UTC)
    with database.session() as session:
        assert add_addition(session, "ouders", "nl", "  is er een  app? ", 9001, at)
        assert not add_addition(session, "ouders", "nl", "is er een app?", 9002, at)
        version = additions_version(session)
        assert add_addition(session, "contact", "nl", "is er een app?", 9001, at)
    with database.session() as session:
        rows = session.scalars(select(FaqAddition)).all()
        assert [(r.entry_id, r.question) for r in rows] == [("contact", "is er een app?")]
        assert additions_version(session) != version
    database.dispose()


def test_faq_export_writes_additions_as_faq_content(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'export.sqlite3'}"
    config = tmp_path / "config.yaml"
    config.write_text(f"storage:\n  url: {url}\nactivities:\n  file: null\n", encoding="utf-8")
    database = Database(url)
    database.upgrade()
    at = datetime(2027, 3, 1, tzinfo=UTC)
    with database.session() as session:
        add_addition(session, "ouders", "nl", "is er een whatsappgroep voor ouders?", 9001, at)
        add_addition(session, "ouders", "en", "is there a whatsapp group for parents", 9001, at)
        add_addition(session, "wat-is-mao", "nl", 'mao: "wat" is dat', 9001, at)
        add_addition(session, "weg-uit-content", "nl", "een oud onderwerp", 9001, at)
    database.dispose()
    env = {k: v for k, v in os.environ.items() if k not in ("TELEGRAM_BOT_TOKEN", "DATABASE_URL")}
    env["MAO_CONFIG"] = str(config)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(["faq", "export", *args], env=env, cwd=ROOT)

    result = run()
    assert result.returncode == 0, result.stderr
    exported = yaml.safe_load(result.stdout)
    # In the content's order, only the languages that have additions.
    assert exported["entries"] == [
        {"id": "wat-is-mao", "nl": {"alternatives": ['mao: "wat" is dat']}},
        {
            "id": "ouders",
            "nl": {"alternatives": ["is er een whatsappgroep voor ouders?"]},
            "en": {"alternatives": ["is there a whatsapp group for parents"]},
        },
    ]
    assert "weg-uit-content" in result.stderr  # an entry no longer in the content is named

    output = tmp_path / "additions.yaml"  # in this process: a process start costs a second
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert main(["--config", str(config), "faq", "export", "--output", str(output)]) == 0
    assert yaml.safe_load(output.read_text(encoding="utf-8"))["entries"] == exported["entries"]
    assert str(output) in capsys.readouterr().err


@pytest.mark.parametrize("where", ["sqlite", "postgresql"])
def test_the_version_changes_with_every_addition(
    where: str, db_url: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("postgres_url") if where == "postgresql" else db_url
    database = Database(url)
    database.upgrade()
    at = datetime(2027, 3, 1, tzinfo=UTC)
    with database.session() as session:
        empty = additions_version(session)
        add_addition(session, "ouders", "nl", "vraag een", None, at)
        one = additions_version(session)
        add_addition(session, "ouders", "nl", "vraag een", None, at)  # the same: no change
        assert additions_version(session) == one
        add_addition(session, "contact", "nl", "vraag een", None, at)  # moved: a change
        moved = additions_version(session)
    assert len({empty, one, moved}) == 3
    database.dispose()
