"""/vergeetmij erases: after a whole journey (sign-up, a question handed over and answered and
added to the FAQ, a story, check-in, feedback), the name, e-mail address and texts are in no
byte of the database file, its write-ahead log, the FAQ index cache or the console's files;
the copies in the organisers' chats are deleted or replaced (issue 17, section 2)."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import ADMIN_ID, texts
from sqlalchemy import event, make_url, select

from bot.config import AppConfig
from bot.offline.console import run_console
from bot.offline.driver import BotDriver, buttons_of
from bot.offline.standin import ApiCall
from core import callbacks
from storage.activities import get_activity
from storage.models import FaqAddition, InboxMessage, InboxThread
from storage.registrations import door_code

TEST_ACTIVITIES = Path(__file__).resolve().parent / "data" / "activities-test.yaml"
GROUP = -1001234567890
GROUP_CHAT = {"id": GROUP, "type": "supergroup", "title": "Programmabureau MAO"}
PARENT, OTHER = 4701, 4702
NAME = "Zwaantje Oosterwijk-Quint"
EMAIL = "zwaantje.quint@example.org"
SIGNUP_QUESTION = "Mag mijn dochter Fenneke met haar rolstoel mee naar binnen?"
# Nothing in the FAQ is about this: the honest fallback, with the hand-over button.
QUESTION = "Mijn zoon Quirijn en zijn juf praten langs elkaar heen, wie kan daar eens naar kijken?"
ANSWER = "Beste ouder, bel Quirijns intern begeleider op maandag, zij weet ervan."
STORY = "Bij Quirijn op school zaten de juf, de jeugdarts en wij eindelijk samen aan tafel."
COMMENT = "Fijne middag, de rolstoelingang bij Karakter was lastig te vinden."
SECRETS = (NAME, EMAIL, SIGNUP_QUESTION, QUESTION, ANSWER, STORY, COMMENT)
# The FAQ index keeps words, not sentences (lower case, stemmed): the names are found as words.
WORDS = ("zwaantje", "quirijn", "fenneke")


@pytest.fixture
def cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("MAO_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def config(config: AppConfig, cache_folder: Path) -> AppConfig:
    activities = config.activities.model_copy(update={"file": TEST_ACTIVITIES})
    inbox = config.inbox.model_copy(update={"chat_id": GROUP})
    return config.model_copy(update={"activities": activities, "inbox": inbox})


def database_file(config: AppConfig) -> Path:
    return Path(str(make_url(config.storage.url).database))


def hits(folders_and_files: list[Path]) -> dict[str, list[str]]:
    """Which of SECRETS and WORDS occur, in any case, in the raw bytes of these files (and of
    the files in these folders)."""
    found: dict[str, list[str]] = {}
    for place in folders_and_files:
        files = sorted(p for p in place.rglob("*") if p.is_file()) if place.is_dir() else [place]
        for path in files:
            if not path.exists():
                continue
            data = path.read_bytes().lower()
            for secret in (*SECRETS, *WORDS):
                if secret.lower().encode() in data:
                    found.setdefault(path.name, []).append(secret)
    return found


def message_with(driver: BotDriver, chat_id: int, containing: str) -> dict[str, Any]:
    for (chat, _), message in reversed(driver.standin.messages.items()):
        if chat == chat_id and containing in str(message.get("text", "")):
            return message
    raise LookupError(f"no message with {containing!r} in chat {chat_id}")


async def someone_else(driver: BotDriver) -> None:
    """Another parent's rows around the erased ones: deleted rows are then cells between
    live ones, which SQLite leaves in the page unless it overwrites them (secure_delete)."""
    await driver.say(OTHER, "/start signup_kleine-dialoog")
    await driver.press(OTHER, "Ouder")
    await driver.say(OTHER, "Bert Bakker")
    await driver.say(OTHER, "bert@example.org")
    await driver.say(OTHER, "Is er koffie?")
    await driver.press(OTHER, "akkoord")
    await driver.press(OTHER, "Bevestigen")
    await driver.say(OTHER, "Wie regelt het vervoer van mijn dochter naar de dagbesteding?")
    await driver.press(OTHER, "programmabureau")
    await driver.press(OTHER, "Ja, versturen")


async def journey(driver: BotDriver) -> None:
    """Everything a parent can leave behind, and an organiser's answer and FAQ addition."""
    clock = driver.services.clock
    await someone_else(driver)
    await driver.say(PARENT, "/start signup_kleine-dialoog")
    await driver.press(PARENT, "Ouder")
    await driver.say(PARENT, NAME)
    await driver.say(PARENT, EMAIL)
    await driver.say(PARENT, SIGNUP_QUESTION)
    await driver.press(PARENT, "akkoord")
    assert any("Je bent aangemeld" in t for t in texts(await driver.press(PARENT, "Bevestigen")))
    # A question the FAQ misses, handed over, answered by an organiser in the group.
    await driver.say(PARENT, QUESTION)
    await driver.press(PARENT, "programmabureau")
    await driver.press(PARENT, "Ja, versturen")
    await driver.deliver_owed()
    with driver.services.db.session() as session:
        thread_id = session.scalars(
            select(InboxThread.id).where(InboxThread.user_id == PARENT)
        ).one()
    copy = message_with(driver, GROUP, f"Vraag #{thread_id}")
    await driver.say(ADMIN_ID, ANSWER, chat=GROUP_CHAT, reply_to=copy)
    await driver.deliver_owed()
    # "Voeg toe aan FAQ" on the copy: the question becomes a phrasing of a topic.
    await driver.press_data(ADMIN_ID, callbacks.FAQ_ADD_THREAD.data(thread=thread_id), copy)
    picker = message_with(driver, GROUP, "Bij welk onderwerp")
    _, topic = buttons_of(picker)[0]
    await driver.press_data(ADMIN_ID, topic, picker)
    assert message_with(driver, GROUP, "eigen woorden van de vraagsteller")
    # A story with the first name.
    await driver.say(PARENT, "/deelverhaal")
    await driver.say(PARENT, STORY)
    await driver.press(PARENT, "Met mijn voornaam")
    await driver.press(PARENT, "Ja, versturen")
    await driver.deliver_owed()
    # On the day: checked in at the door; afterwards stars and a comment.
    driver.services.clock = lambda: datetime(2027, 5, 18, 11, 30, tzinfo=UTC)
    with driver.services.db.session() as session:
        activity = get_activity(session, "kleine-dialoog")
        assert activity is not None
        code = door_code(session, activity.id, driver.services.now(), driver.services.config.zone)
    await driver.deliver_owed()
    assert any(
        "ingecheckt" in t.lower()
        for t in texts(await driver.say(PARENT, f"/start checkin_{code}"))
    )
    driver.services.clock = lambda: datetime(2027, 5, 18, 16, 5, tzinfo=UTC)
    await driver.deliver_owed()
    assert await driver.messages_to(PARENT, "Hoe vond je")  # the stars are its buttons
    await driver.press(PARENT, "⭐5")
    await driver.say(PARENT, COMMENT)
    driver.services.clock = clock


def data_file(calls: list[ApiCall]) -> dict[str, Any]:
    [document] = [c for c in calls if c.method == "sendDocument"]
    _, content = next(iter(document.files.values()))
    data: dict[str, Any] = json.loads(content.decode("utf-8"))
    return data


async def shows_everything(driver: BotDriver) -> None:
    """/mijngegevens: also check-in and feedback, and for an organiser what they did."""
    calls = await driver.say(PARENT, "/mijngegevens")
    [text] = texts(calls)
    assert "Ingecheckt bij de deur" in text
    assert "⭐⭐⭐⭐⭐" in text and "rolstoelingang" in text
    assert "1 vraag van jou, in jouw woorden, staat als formulering in de FAQ" in text
    data = data_file(calls)
    [registration] = data["registrations"]
    assert registration["present_at_the_door"] is True and registration["checked_in_at"]
    [addition] = data["faq_additions"]
    assert addition["question"] == QUESTION and addition["in_your_words"] is True
    calls = await driver.say(ADMIN_ID, "/mijngegevens")
    [text] = texts(calls)
    assert "Als organisator" in text and "Organisator volgens de instellingen" in text
    assert "Je voegde 1 vraag toe aan de FAQ" in text
    assert "Je schreef 1 antwoord" in text
    data = data_file(calls)
    assert [a["text"] for a in data["answers_written"]] == [ANSWER]
    assert data["faq_additions"][0]["added_by_you"] is True


async def forget(driver: BotDriver, user: int) -> list[str]:
    await driver.say(user, "/vergeetmij")
    done = texts(await driver.press(user, "Ja"))
    await driver.deliver_owed()
    return done


def as_upstream_sqlite(driver: BotDriver) -> None:
    """SQLite as built upstream, without SECURE_DELETE (Debian's has it on): every new
    connection starts with it off, before the bot's own settings (storage/db.py)."""
    engine = driver.services.db.engine

    def off(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA secure_delete=OFF")

    event.listen(engine, "connect", off, insert=True)
    engine.dispose()


@pytest.mark.slow
async def test_after_forget_me_no_byte_is_left(
    driver: BotDriver, config: AppConfig, cache_folder: Path
) -> None:
    as_upstream_sqlite(driver)
    await journey(driver)
    database = database_file(config)
    places = [database, Path(f"{database}-wal"), cache_folder]
    before = hits(places)
    # Something to find in each place, or the test would prove nothing.
    assert f"{database.name}-wal" in before
    assert hits([cache_folder]), "the FAQ index with the added phrasing"
    with driver.services.db.session() as session:
        assert session.scalars(select(FaqAddition.source_user_id)).all() == [PARENT]
    await shows_everything(driver)
    await forget(driver, PARENT)
    assert hits(places) == {}
    # Also once everything in the log is in the database file: deleted means overwritten.
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    assert hits(places) == {}
    # Nothing the bot put in the organisers' chats quotes them: copies, the answer's thread,
    # the FAQ topic picker; only the person's own chat keeps what the bot told them.
    left = [m.get("text") for (chat, _), m in driver.standin.messages.items() if chat != PARENT]
    assert not [t for t in left for s in SECRETS if s in str(t)]
    # The FAQ no longer knows the question as a phrasing (`mao-bot faq export` reads the same).
    with driver.services.db.session() as session:
        assert session.scalars(select(FaqAddition)).all() == []


async def test_copies_in_the_organisers_chat_go_and_the_organisers_are_told_once(
    driver: BotDriver,
) -> None:
    await driver.say(PARENT, QUESTION)
    await driver.press(PARENT, "programmabureau")
    await driver.press(PARENT, "Ja, versturen")
    await driver.say(PARENT, "/deelverhaal")
    await driver.say(PARENT, STORY)
    await driver.press(PARENT, "Met mijn voornaam")
    await driver.press(PARENT, "Ja, versturen")
    await driver.deliver_owed()
    question = message_with(driver, GROUP, "Quirijn en zijn juf")
    story = message_with(driver, GROUP, "aan tafel")
    # Older than 48 hours: Telegram lets the bot delete it no more; it is edited instead.
    driver.standin.undeletable.add((GROUP, story["message_id"]))
    await forget(driver, PARENT)
    messages = driver.standin.messages
    assert (GROUP, question["message_id"]) not in messages
    edited = messages[(GROUP, story["message_id"])]
    assert edited["text"] == "[gewist op verzoek]" and "reply_markup" not in edited
    notices = [t for t in texts(driver.standin.calls) if "/vergeetmij" in t]
    assert len(notices) == 1 and "2 berichten" in notices[0]
    # What stays is in the person's own chat (theirs to delete), nowhere else.
    left = [m["text"] for (chat, _), m in messages.items() if chat != PARENT]
    assert not any(s in str(text) for text in left for s in SECRETS)


async def test_the_console_removes_the_data_file_it_saved(
    services_factory: Any, tmp_path: Path
) -> None:
    files = tmp_path / "console-files"
    lines = [
        "/start signup_kleine-dialoog",
        "#1",  # Ouder
        NAME,
        EMAIL,
        SIGNUP_QUESTION,
        "#1",  # akkoord
        "#1",  # Bevestigen
        "/mijngegevens",
    ]
    stdin = io.StringIO("\n".join(lines) + "\n")
    await run_console(services_factory, PARENT, "nl", stdin, io.StringIO(), files=files)
    saved = json.loads((files / "mijn-gegevens.json").read_text(encoding="utf-8"))
    assert saved["profile"]["name"] == NAME
    stdin = io.StringIO("/mijngegevens\n/vergeetmij\n#1\n")
    await run_console(services_factory, PARENT, "nl", stdin, io.StringIO(), files=files)
    assert hits([files]) == {}
    assert not (files / "mijn-gegevens.json").exists()


async def test_a_phrasing_the_organiser_rewrote_stays(driver: BotDriver) -> None:
    await driver.say(PARENT, QUESTION)
    await driver.press(PARENT, "programmabureau")
    await driver.press(PARENT, "Ja, versturen")
    await driver.deliver_owed()
    copy = message_with(driver, GROUP, "Quirijn en zijn juf")
    await driver.say(ADMIN_ID, ANSWER, chat=GROUP_CHAT, reply_to=copy)
    [(_, add)] = [b for b in buttons_of(copy) if "Voeg toe" in b[0]]
    await driver.press_data(ADMIN_ID, add, copy)
    picker = message_with(driver, GROUP, "Bij welk onderwerp")
    [(_, rewrite)] = [b for b in buttons_of(picker) if "herschrijven" in b[0]]
    await driver.press_data(ADMIN_ID, rewrite, picker)
    assert "zonder namen" in message_with(driver, GROUP, "privéchat")["text"]
    rewritten = "Wat kan ik doen als mijn kind en de leerkracht langs elkaar heen praten?"
    shown = texts(await driver.say(ADMIN_ID, rewritten))
    assert "Bij welk onderwerp" in shown[0] and "Herschreven door jou" in shown[0]
    _, topic = buttons_of(driver.latest_message_with_buttons(ADMIN_ID) or {})[0]
    await driver.press_data(ADMIN_ID, topic, driver.latest_message_with_buttons(ADMIN_ID))
    assert "blijft in de FAQ" in str(driver.latest_message(ADMIN_ID))
    # The organiser forgotten: their answer and addition stay, without their id.
    await forget(driver, ADMIN_ID)
    with driver.services.db.session() as session:
        assert session.scalars(
            select(InboxMessage.author_id).where(InboxMessage.direction == "out")
        ).all() == [None]
        assert session.scalars(select(FaqAddition.added_by)).all() == [None]
    await forget(driver, PARENT)
    with driver.services.db.session() as session:
        kept = session.execute(select(FaqAddition.question, FaqAddition.source_user_id)).all()
    assert [tuple(row) for row in kept] == [(rewritten, None)]
